package runs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// sseEncoder writes a log as server-sent events: complete lines only, each
// as a data: line, one event per batch with the byte offset after it as its
// id (a reconnecting client sends it back as Last-Event-ID).
type sseEncoder struct {
	w       *bufio.Writer
	partial []byte // an unfinished last line
	offset  int64  // log bytes handed to the encoder
}

// write adds log bytes; complete lines are written as one event.
func (e *sseEncoder) write(p []byte) error {
	e.offset += int64(len(p))
	buf := append(e.partial, p...)
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 {
		e.partial = buf
		return nil
	}
	lines, rest := buf[:i], buf[i+1:]
	e.partial = append([]byte(nil), rest...)
	return e.event(bytes.TrimSuffix(lines, []byte("\r")), e.offset-int64(len(e.partial)))
}

// event writes text as data: lines; CR, alone or before LF, ends a line too
// (SSE treats it as a line break).
func (e *sseEncoder) event(text []byte, id int64) error {
	text = bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))
	text = bytes.ReplaceAll(text, []byte("\r"), []byte("\n"))
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		e.w.WriteString("data: ")
		e.w.Write(line)
		e.w.WriteByte('\n')
	}
	e.w.WriteString("id: " + strconv.FormatInt(id, 10) + "\n\n")
	return e.w.Flush()
}

// end writes the unfinished line, if any, and the end event with the run's
// final state.
func (e *sseEncoder) end(r *Run) error {
	if len(e.partial) > 0 {
		if err := e.event(e.partial, e.offset); err != nil {
			return err
		}
		e.partial = nil
	}
	b, _ := json.Marshal(struct {
		Status   Status  `json:"status"`
		ExitCode *int    `json:"exit_code"`
		Error    *string `json:"error"`
	}{r.Status, r.ExitCode, nullable(r.Error)})
	e.w.WriteString("event: end\ndata: ")
	e.w.Write(b)
	e.w.WriteString("\n\n")
	return e.w.Flush()
}

func (e *sseEncoder) keepAlive() error {
	e.w.WriteString(": keep-alive\n\n")
	return e.w.Flush()
}

// follower streams one run's log from byte offset on until the run ends,
// the client goes away (a failed write, at the latest at the next
// keep-alive) or the server stops.
type follower struct {
	s      *Service
	runID  string
	enc    *sseEncoder
	offset int64
	keep   *time.Ticker
}

// follow runs a follower; it always returns, and counts itself in
// Service.Followers while it runs.
func (s *Service) follow(ctx context.Context, runID string, from int64, w *bufio.Writer) error {
	s.followers.Add(1)
	defer s.followers.Add(-1)
	f := &follower{s: s, runID: runID, enc: &sseEncoder{w: w, offset: from}, offset: from,
		keep: time.NewTicker(s.tuning.KeepAlive)}
	defer f.keep.Stop()
	if err := w.Flush(); err != nil { // send the headers now
		return err
	}
	poll := time.NewTicker(s.tuning.Poll)
	defer poll.Stop()
	for {
		if sub, pending, ok := s.worker.subscribe(runID); ok {
			if err := f.live(ctx, sub, pending); err != nil {
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
		if err := f.fromStore(ctx); err != nil {
			return err
		}
		if r.Status.Terminal() {
			return f.enc.end(r)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		case <-f.keep.C:
			if err := f.enc.keepAlive(); err != nil {
				return err
			}
		}
	}
}

// fromStore sends what the object store holds past the offset.
func (f *follower) fromStore(ctx context.Context) error {
	b, err := f.s.readObject(ctx, logKey(f.runID), f.offset)
	if err != nil || len(b) == 0 {
		return err
	}
	f.offset += int64(len(b))
	return f.enc.write(b)
}

// send writes the part of c past the offset. It reports false for a gap
// (bytes missing before c), which makes the caller start over.
func (f *follower) send(c chunk) (bool, error) {
	end := c.Start + int64(len(c.Data))
	if end <= f.offset || len(c.Data) == 0 {
		return true, nil
	}
	if c.Start > f.offset {
		return false, nil
	}
	data := c.Data[f.offset-c.Start:]
	f.offset = end
	return true, f.enc.write(data)
}

// live follows a run worked here: the stored prefix, the bytes not yet
// flushed, then each chunk as the container writes it. It returns nil when
// the writer closes or drops a lagging follower.
func (f *follower) live(ctx context.Context, sub *subscription, pending chunk) error {
	defer sub.cancel()
	if err := f.fromStore(ctx); err != nil {
		return err
	}
	if ok, err := f.send(pending); err != nil || !ok {
		return err
	}
	for {
		select {
		case c, open := <-sub.ch:
			if !open {
				return nil
			}
			if ok, err := f.send(c); err != nil || !ok {
				return err
			}
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
