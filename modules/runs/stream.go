package runs

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxSSELine bounds the log bytes of one data: line. A longer line goes out
// in pieces: each but the last as an event named "partial", which the client
// joins to the line the next event continues.
const maxSSELine = 16 << 10

// followChunk is how many log bytes a follower reads at a time.
const followChunk = 32 << 10

// sseEncoder writes a log as server-sent events: complete lines, each as a
// data: line, one event per batch, with the byte offset after the batch as
// its id (a reconnecting client sends it back as Last-Event-ID). LF, CRLF
// and a lone CR each end a line. A line longer than maxSSELine is sent in
// pieces (see maxSSELine), so no event holds more than maxSSELine bytes of
// an unfinished line, nor a data: line more than maxSSELine bytes.
type sseEncoder struct {
	w       *bufio.Writer
	partial []byte // unsent bytes of an unfinished last line, at most maxSSELine (and a CR)
	offset  int64  // log bytes handed to the encoder
	scratch []byte // partial and the new bytes, reused
	open    bool   // a data event is being written
	lastEnd int64  // the offset after its last line
}

// write adds log bytes: complete lines are written as one event, pieces of
// an over-long line as partial events.
func (e *sseEncoder) write(p []byte) error {
	base := e.offset - int64(len(e.partial)) // the offset of buf[0]
	e.offset += int64(len(p))
	buf := append(append(e.scratch[:0], e.partial...), p...)
	start := 0 // the start of the current line in buf
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		if c != '\n' && c != '\r' {
			continue
		}
		end := i + 1 // past the line's terminator
		if c == '\r' {
			if i+1 == len(buf) {
				break // CR or CRLF: the next write tells
			}
			if buf[i+1] == '\n' {
				end++
			}
		}
		if err := e.line(buf[start:i], base+int64(start), base+int64(end)); err != nil {
			return err
		}
		start, i = end, end-1
	}
	// The unfinished rest: send what is over the bound as partial events,
	// keep the rest (and a trailing CR, which is not text yet).
	rest := buf[start:]
	for text := len(rest) - trailingCR(rest); text > maxSSELine; text = len(rest) - trailingCR(rest) {
		cut := runeCut(rest, maxSSELine)
		if err := e.piece(rest[:cut], base+int64(start+cut)); err != nil {
			return err
		}
		start += cut
		rest = buf[start:]
	}
	e.partial = append(e.partial[:0], rest...)
	e.scratch = buf[:0]
	return e.close()
}

// line adds one complete line, which starts at offset from and whose
// terminator ends at offset end.
func (e *sseEncoder) line(text []byte, from, end int64) error {
	for len(text) > maxSSELine {
		cut := runeCut(text, maxSSELine)
		from += int64(cut)
		if err := e.piece(text[:cut], from); err != nil {
			return err
		}
		text = text[cut:]
	}
	e.open = true
	e.w.WriteString("data: ")
	e.w.Write(text)
	e.w.WriteByte('\n')
	e.lastEnd = end
	return nil
}

// piece sends part of an unfinished line as a partial event with id.
func (e *sseEncoder) piece(text []byte, id int64) error {
	if err := e.close(); err != nil {
		return err
	}
	e.w.WriteString("event: partial\ndata: ")
	e.w.Write(text)
	e.w.WriteString("\nid: " + strconv.FormatInt(id, 10) + "\n\n")
	return e.w.Flush()
}

// close ends the open data event, if any, with the offset after its last
// line as id, and sends it.
func (e *sseEncoder) close() error {
	if !e.open {
		return nil
	}
	e.open = false
	e.w.WriteString("id: " + strconv.FormatInt(e.lastEnd, 10) + "\n\n")
	return e.w.Flush()
}

// trailingCR is 1 when b ends with a CR.
func trailingCR(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return 1
	}
	return 0
}

// runeCut returns a cut of b at most max bytes long that does not split a
// UTF-8 sequence (when b is UTF-8 there).
func runeCut(b []byte, max int) int {
	for cut := max; cut > max-utf8.UTFMax && cut > 0; cut-- {
		if utf8.RuneStart(b[cut]) {
			return cut
		}
	}
	return max
}

// end writes the unfinished line, if any, and the end event with the run's
// final state.
func (e *sseEncoder) end(r *Run) error {
	if len(e.partial) > 0 {
		text := e.partial[:len(e.partial)-trailingCR(e.partial)]
		if err := e.line(text, e.offset-int64(len(e.partial)), e.offset); err != nil {
			return err
		}
		e.partial = e.partial[:0]
		if err := e.close(); err != nil {
			return err
		}
	}
	return writeEnd(e.w, r)
}

func (e *sseEncoder) keepAlive() error { return writeKeepAlive(e.w) }

// writeEnd writes the event that ends a stream: the run's final state.
func writeEnd(w *bufio.Writer, r *Run) error {
	b, _ := json.Marshal(struct {
		Status       Status  `json:"status"`
		ExitCode     *int    `json:"exit_code"`
		Error        *string `json:"error"`
		LogTruncated bool    `json:"log_truncated"`
	}{r.Status, r.ExitCode, nullable(r.Error), r.LogTruncated})
	w.WriteString("event: end\ndata: ")
	w.Write(b)
	w.WriteString("\n\n")
	return w.Flush()
}

// writeKeepAlive writes the comment that keeps an idle stream open, and
// finds out that its client left.
func writeKeepAlive(w *bufio.Writer) error {
	w.WriteString(": keep-alive\n\n")
	return w.Flush()
}

// streamEncoder turns a run's log, fed in order, into server-sent events:
// its lines (sseEncoder) or its event timeline (eventEncoder). One
// follower serves both.
type streamEncoder interface {
	// write takes the next log bytes.
	write(p []byte) error
	// keepAlive writes a comment on an idle stream.
	keepAlive() error
	// end writes what is left and the end event with the run's outcome.
	end(r *Run) error
}

var (
	_ streamEncoder = (*sseEncoder)(nil)
	_ streamEncoder = (*eventEncoder)(nil)
)

// eventEncoder writes a log's events as server-sent events: one per
// event, its data the event's JSON (a RunEvent, on one line: JSON escapes
// line ends in strings) and its id the event's cursor, which a
// reconnecting client sends back as Last-Event-ID.
type eventEncoder struct {
	w    *bufio.Writer
	scan *eventScanner
	err  error // the first failed write
}

func (e *eventEncoder) send(ev RunEvent) bool {
	b, err := json.Marshal(ev)
	if err != nil {
		e.err = err
		return false
	}
	e.w.WriteString("id: " + ev.Cursor + "\ndata: ")
	e.w.Write(b)
	if _, err := e.w.WriteString("\n\n"); err != nil {
		e.err = err
		return false
	}
	return true
}

// flush sends the events written so far; with none buffered it writes
// nothing (bufio's Flush does nothing then).
func (e *eventEncoder) flush() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

func (e *eventEncoder) write(p []byte) error {
	e.scan.feed(p, e.send)
	return e.flush()
}

func (e *eventEncoder) keepAlive() error { return writeKeepAlive(e.w) }

func (e *eventEncoder) end(r *Run) error {
	e.scan.finish(e.send)
	if err := e.flush(); err != nil {
		return err
	}
	return writeEnd(e.w, r)
}

// follower feeds one run's log from byte offset on to an encoder of
// server-sent events (its lines, or its events) until the run ends, the
// client goes away (a failed write: at the latest at the next keep-alive,
// or when a write cannot finish within the write deadline the connection
// carries) or the server stops. It holds one read buffer and the
// encoder's bounded state, whatever the log's size and line length.
type follower struct {
	s      *Service
	runID  string
	enc    streamEncoder
	offset int64
	buf    []byte
	keep   *time.Ticker
}

// follow streams the run's log lines from byte offset from.
func (s *Service) follow(ctx context.Context, runID string, from int64, w *bufio.Writer) error {
	return s.stream(ctx, runID, from, w, &sseEncoder{w: w, offset: from})
}

// followEvents streams the run's events from byte offset from; mid says
// that from is inside a line (see newEventScanner).
func (s *Service) followEvents(ctx context.Context, runID string, from int64, mid bool, w *bufio.Writer) error {
	return s.stream(ctx, runID, from, w, &eventEncoder{w: w, scan: newEventScanner(from, mid)})
}

// stream runs a follower that feeds enc, which writes to w; it always
// returns, and counts itself in Service.Followers while it runs.
func (s *Service) stream(ctx context.Context, runID string, from int64, w *bufio.Writer, enc streamEncoder) error {
	s.followers.Add(1)
	defer s.followers.Add(-1)
	f := &follower{s: s, runID: runID, enc: enc, offset: from,
		buf: make([]byte, followChunk), keep: time.NewTicker(s.tuning.KeepAlive)}
	defer f.keep.Stop()
	if err := w.Flush(); err != nil { // send the headers now
		return err
	}
	poll := time.NewTicker(s.tuning.Poll)
	defer poll.Stop()
	for {
		if lw := s.worker.liveLog(runID); lw != nil {
			if err := f.live(ctx, lw); err != nil {
				return err
			}
			continue
		}
		// Not (or no longer) worked here: the store has the truth. Read the
		// status first: a terminal status is written after the last log byte.
		r, err := s.store.Get(ctx, runID)
		if err != nil {
			return err
		}
		if err := f.fromStore(ctx, -1); err != nil {
			return err
		}
		if r.Status.Terminal() {
			return f.enc.end(r)
		}
		if err := f.wait(ctx, poll.C); err != nil {
			return err
		}
	}
}

// wait sends keep-alives until the next poll.
func (f *follower) wait(ctx context.Context, poll <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll:
			return nil
		case <-f.keep.C:
			if err := f.enc.keepAlive(); err != nil {
				return err
			}
		}
	}
}

// fromStore sends what the object store holds from the offset on, up to
// offset limit (< 0: to the end): it reads only those bytes.
func (f *follower) fromStore(ctx context.Context, limit int64) error {
	n := int64(-1)
	if limit >= 0 {
		if n = limit - f.offset; n <= 0 {
			return nil
		}
	}
	rc, err := f.s.OpenLog(ctx, f.runID, f.offset, n) // empty before any output
	if err != nil {
		return err
	}
	defer rc.Close()
	for {
		k, err := rc.Read(f.buf)
		if k > 0 {
			f.offset += int64(k)
			if werr := f.enc.write(f.buf[:k]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// live follows a run worked here: the bytes the store has from the store,
// the others from the writer's memory, each as soon as the writer has it.
// It returns nil when the writer closes.
func (f *follower) live(ctx context.Context, lw *logWriter) error {
	for {
		v := lw.readAt(f.offset, f.buf)
		switch {
		case v.n > 0:
			f.offset += int64(v.n)
			if err := f.enc.write(f.buf[:v.n]); err != nil {
				return err
			}
			continue
		case f.offset < v.flushed:
			if err := f.fromStore(ctx, v.flushed); err != nil {
				return err
			}
			continue
		case v.closed:
			return nil
		}
		select {
		case <-v.changed:
		case <-f.keep.C:
			if err := f.enc.keepAlive(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lifetime is the context log streams live on: the instance's, which ends
// when the server stops, not a request's.
func (s *Service) lifetime() context.Context { return s.worker.lifetime() }

// Followers returns how many log streams are open.
func (s *Service) Followers() int { return int(s.followers.Load()) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
