package runs

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
)

// EventsInput asks for one page of a run's timeline.
type EventsInput struct {
	// Cursor is where the page starts: "" for the start, else a cursor
	// the timeline gave (an event's, or a page's next).
	Cursor string
	// Limit is the most events the page holds.
	Limit int
}

// EventPage is one page of a run's timeline.
type EventPage struct {
	Items []RunEvent
	// Next is where the next page starts; nil once the run has finished
	// and the page reached the end of its log.
	Next *string
}

// pageRead is how many log bytes a page reads at a time: the pieces
// stream through the scanner, which keeps none of them.
const pageRead = 64 << 10

// pageBytes is how many log bytes a page reads, at most, before it stops
// at the end of the line it is in; it reads on to the end of an event
// line, so at most maxEventLine more.
const pageBytes = 1 << 20

// windows are the buffers pages read the log into: a byte before the
// cursor, and a piece.
var windows = sync.Pool{New: func() any { b := make([]byte, 1+pageRead); return &b }}

// Events returns a page of the events of a run the caller may see: at
// most in.Limit, from about pageBytes of its log (see pageBytes). A page
// may hold fewer events than the limit, none at all, and still have a
// next one: the client follows Next until it is nil. While the run is
// active, Next is never nil: the page at the end of the log says where
// its next events will start.
func (s *Service) Events(ctx context.Context, caller identity.Principal, id string, in EventsInput) (EventPage, error) {
	// The status first: a terminal status is written after the log's last
	// byte, so a finished run's log is whole when read after it.
	r, err := s.Get(ctx, caller, id)
	if err != nil {
		return EventPage{}, err
	}
	return s.eventPage(ctx, r, in)
}

// eventPage reads a page of the events of run r, read before its log.
func (s *Service) eventPage(ctx context.Context, r *Run, in EventsInput) (EventPage, error) {
	from, err := eventCursor("cursor", in.Cursor)
	if err != nil {
		return EventPage{}, err
	}
	buf := windows.Get().(*[]byte)
	defer windows.Put(buf)
	b := *buf
	// The byte before the cursor first: whether it starts a line.
	lr := &logReader{s: s, id: r.ID, off: max(from-1, 0), lw: s.worker.liveLog(r.ID)}
	defer lr.close()
	n, err := lr.read(ctx, b[:1+pageRead])
	if err != nil {
		return EventPage{}, err
	}
	window, mid := b[:n], false
	if from > 0 {
		if n == 0 {
			return EventPage{}, derrors.InvalidField("cursor", "is past the end of the run's log")
		}
		window, mid = b[1:n], b[0] != '\n'
	}
	sc := newEventScanner(from, mid)
	page := EventPage{Items: []RunEvent{}}
	next := int64(-1)
	emit := func(ev RunEvent) bool {
		page.Items = append(page.Items, ev)
		if len(page.Items) < in.Limit {
			return true
		}
		next, _ = parseCursor(ev.Cursor)
		return false
	}
	read, end := int64(len(window)), false
	more := sc.feed(window, emit)
	last := int64(-1) // past pageBytes: the line the page ends with
	for more {
		if read >= pageBytes {
			if !sc.inLine() || (last >= 0 && sc.start != last) {
				break
			}
			last = sc.start
		}
		n, err := lr.read(ctx, b[:pageRead])
		if err != nil {
			return EventPage{}, err
		}
		if n == 0 {
			end = true // for now, while the run goes on
			break
		}
		read += int64(n)
		more = sc.feed(b[:n], emit)
	}
	whole := r.Status.Terminal() && end // the end of a finished log
	if more && whole {
		sc.finish(emit)
	}
	if next < 0 {
		next = sc.resume()
	}
	if !whole || next < from+read {
		c := cursorAt(next)
		page.Next = &c
	}
	return page, nil
}

// logReader reads a run's log on from an offset: the bytes the object
// store has and, for a run worked on this instance, those its log writer
// has not stored yet, as a follower sees them. It reads the store through
// one ranged read for as long as the store has the bytes: reading
// megabytes in small pieces costs one request, not one a piece.
type logReader struct {
	s     *Service
	id    string
	off   int64         // the next byte's offset
	end   int64         // nothing at or past it is read (nor asked of the store); 0: no end
	lw    *logWriter    // the run's writer, when worked on this instance
	rc    io.ReadCloser // an open range of the stored log from off, if any
	until int64         // where the range ends, with a live writer
	ended bool          // nothing more to read
}

// read reads the next bytes into p; 0 at the log's end (for now).
func (r *logReader) read(ctx context.Context, p []byte) (int, error) {
	for {
		if r.end > 0 {
			if r.off >= r.end {
				return 0, nil
			}
			p = p[:min(int64(len(p)), r.end-r.off)]
		}
		if r.rc == nil {
			n := int64(-1) // to the stored log's end
			if r.lw != nil {
				v := r.lw.readAt(r.off, p)
				if v.n > 0 || r.off >= v.total {
					r.off += int64(v.n)
					return v.n, nil
				}
				n = v.flushed - r.off // the store has these
			}
			if r.ended {
				return 0, nil
			}
			if r.end > 0 && (n < 0 || n > r.end-r.off) {
				n = r.end - r.off
			}
			rc, err := r.s.OpenLog(ctx, r.id, r.off, n)
			if err != nil {
				return 0, err
			}
			r.rc, r.until = rc, r.off+n
		}
		k, err := io.ReadFull(r.rc, p)
		r.off += int64(k)
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return k, err
		}
		// The range is done. Without a live writer, so is the log; with
		// one, what follows is in its memory or in a later range, unless
		// the store lacks bytes it was said to have.
		r.close()
		r.ended = r.lw == nil || r.off < r.until
		if k > 0 || r.ended {
			return k, nil
		}
	}
}

// close ends the open range, if any.
func (r *logReader) close() {
	if r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
}

// EventsFrom checks that the caller may see the run and reads where a
// stream of its events starts: cursor, as the parameter named field gave
// it ("" for the start), and whether that is inside a line.
func (s *Service) EventsFrom(ctx context.Context, caller identity.Principal, id, field, cursor string) (from int64, mid bool, err error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return 0, false, err
	}
	if from, err = eventCursor(field, cursor); err != nil {
		return 0, false, err
	}
	if from == 0 {
		return 0, false, nil
	}
	// The byte before the cursor: whether it starts a line.
	lr := &logReader{s: s, id: id, off: from - 1, end: from, lw: s.worker.liveLog(id)}
	defer lr.close()
	var before [1]byte
	n, err := lr.read(ctx, before[:])
	switch {
	case err != nil:
		return 0, false, err
	case n == 0:
		return 0, false, derrors.InvalidField(field, "is past the end of the run's log")
	}
	return from, before[0] != '\n', nil
}

// eventCursor reads a cursor of the timeline from the parameter field.
func eventCursor(field, cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	from, ok := parseCursor(cursor)
	if !ok {
		return 0, derrors.InvalidField(field, "is not a cursor this server issued")
	}
	return from, nil
}
