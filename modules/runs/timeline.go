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

// windows are the buffers pages read the log into: a byte before the
// cursor and maxEventLine from it.
var windows = sync.Pool{New: func() any { b := make([]byte, 1+maxEventLine); return &b }}

// firstPiece is how much of its window a page reads first.
const firstPiece = 64 << 10

// Events returns a page of the events of a run the caller may see: at
// most in.Limit, from at most maxEventLine bytes of its log. A page may
// hold fewer events than the limit, none at all, and still have a next
// one: the client follows Next until it is nil. While the run is active,
// Next is never nil: the page at the end of the log says where its next
// events will start.
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
	id := r.ID
	from, err := eventCursor("cursor", in.Cursor)
	if err != nil {
		return EventPage{}, err
	}
	buf := windows.Get().(*[]byte)
	defer windows.Put(buf)
	// The window is read in growing pieces, so that a page whose events
	// come early reads little more than them (on S3, a request a piece).
	b, size := *buf, min(firstPiece, maxEventLine)
	window, mid, err := s.eventWindow(ctx, id, "cursor", from, b[:1+size])
	if err != nil {
		return EventPage{}, err
	}
	sc := newEventScanner(from, mid)
	page := EventPage{Items: []RunEvent{}}
	next := int64(-1)
	emit := func(ev RunEvent) bool {
		page.Items = append(page.Items, ev)
		if len(page.Items) < in.Limit {
			return true
		}
		next = sc.offset // the event's cursor
		return false
	}
	read, short := len(window), len(window) < size // a short read reached the log's end
	more := sc.feed(window, emit)
	for more && !short && read < maxEventLine {
		size = min(2*size, maxEventLine-read)
		piece := b[1+read : 1+read+size]
		n, err := s.readLog(ctx, id, from+int64(read), piece)
		if err != nil {
			return EventPage{}, err
		}
		read, short = read+n, n < size
		more = sc.feed(piece[:n], emit)
	}
	whole := r.Status.Terminal() && short // the end of a finished log
	if more && whole {
		sc.finish(emit)
	}
	if next < 0 {
		next = sc.resume()
	}
	if !whole || next < from+int64(read) {
		c := cursorAt(next)
		page.Next = &c
	}
	return page, nil
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
	var before [1]byte
	_, mid, err = s.eventWindow(ctx, id, field, from, before[:])
	return from, mid, err
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

// eventWindow reads the log of run id into buf: the byte before offset
// from into buf[0], and up to len(buf)-1 bytes from it, which it returns.
// mid is true when the byte before from is not an LF: from is inside a
// line. An offset past the log's end is a validation error of field.
func (s *Service) eventWindow(ctx context.Context, id, field string, from int64, buf []byte) (window []byte, mid bool, err error) {
	if from == 0 {
		n, err := s.readLog(ctx, id, 0, buf[1:])
		return buf[1 : 1+n], false, err
	}
	n, err := s.readLog(ctx, id, from-1, buf)
	switch {
	case err != nil:
		return nil, false, err
	case n == 0:
		return nil, false, derrors.InvalidField(field, "is past the end of the run's log")
	}
	return buf[1:n], buf[0] != '\n', nil
}

// readLog reads the run's log from byte off into p, as far as it goes:
// the bytes the object store has, and, for a run worked on this
// instance, those its log writer has not stored yet, as a follower sees
// them. It returns how many bytes it read.
func (s *Service) readLog(ctx context.Context, id string, off int64, p []byte) (int, error) {
	lw := s.worker.liveLog(id)
	got := 0
	for got < len(p) {
		pos := off + int64(got)
		want := len(p) - got
		if lw != nil {
			v := lw.readAt(pos, p[got:])
			if v.n > 0 {
				got += v.n
				continue
			}
			if pos >= v.total {
				break
			}
			want = int(min(int64(want), v.flushed-pos)) // the store has these
		}
		k, err := s.readStored(ctx, id, pos, p[got:got+want])
		got += k
		if err != nil || lw == nil || k == 0 {
			return got, err
		}
	}
	return got, nil
}

// readStored reads the stored log from byte off into p, as far as it goes.
func (s *Service) readStored(ctx context.Context, id string, off int64, p []byte) (int, error) {
	rc, err := s.OpenLog(ctx, id, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}
