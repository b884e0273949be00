package runs

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// logKey and patchKey name a run's objects; objectPrefix holds both.
func logKey(runID string) string       { return "runs/" + runID + "/log" }
func patchKey(runID string) string     { return "runs/" + runID + "/patch" }
func objectPrefix(runID string) string { return "runs/" + runID }

// chunk is a piece of a log starting at byte offset Start.
type chunk struct {
	Start int64
	Data  []byte
}

// subscriberBuffer is how many chunks a live follower may fall behind before
// it is dropped back to reading the object store.
const subscriberBuffer = 256

// logWriter collects one active run's output: it appends it to the object
// store in batches (every FlushInterval or FlushBytes, whichever first) and
// hands every chunk at once to the followers on this instance.
type logWriter struct {
	runID string
	store objects.Store
	log   *zap.Logger
	every time.Duration
	max   int

	mu      sync.Mutex
	total   int64  // bytes received
	flushed int64  // bytes durably appended
	pending []byte // bytes [flushed, total)
	retry   int    // when > 0: the length of the failed append to retry
	subs    map[*subscription]struct{}
	closed  bool
	full    chan struct{} // wakes the flusher early
	failed  error         // the last append failure, kept for the log
}

// subscription is one live follower.
type subscription struct {
	ch chan chunk
	// lagged is set when the follower fell behind and ch was closed early.
	lagged bool
	from   *logWriter
}

// cancel ends the subscription; ch is closed when it was still open.
func (s *subscription) cancel() { s.from.unsubscribe(s) }

func newLogWriter(runID string, store objects.Store, log *zap.Logger, every time.Duration, max int) *logWriter {
	return &logWriter{runID: runID, store: store, log: log, every: every, max: max,
		subs: map[*subscription]struct{}{}, full: make(chan struct{}, 1)}
}

// Write takes a piece of output; it never blocks on a follower nor on the store.
func (w *logWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	c := chunk{Start: w.total, Data: append([]byte(nil), p...)}
	w.pending = append(w.pending, p...)
	w.total += int64(len(p))
	for s := range w.subs {
		select {
		case s.ch <- c:
		default:
			s.lagged = true
			close(s.ch)
			delete(w.subs, s)
		}
	}
	if len(w.pending) >= w.max {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// run flushes until ctx ends, then flushes what is left (bounded by a short
// deadline of its own, since ctx has ended).
func (w *logWriter) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.full:
		case <-ctx.Done():
			return
		}
		w.flush(ctx)
	}
}

// flush appends the pending bytes at their offset. On failure they stay
// pending and the next flush retries exactly them, at the same offset, so
// that an append which failed after the store kept it is not stored twice.
func (w *logWriter) flush(ctx context.Context) {
	w.mu.Lock()
	n := len(w.pending)
	if w.retry > 0 {
		n = w.retry
	}
	data := w.pending[:n:n]
	off := w.flushed
	w.mu.Unlock()
	if n == 0 {
		return
	}
	if err := w.store.AppendAt(ctx, logKey(w.runID), off, data); err != nil {
		w.mu.Lock()
		w.retry = n
		first := w.failed == nil
		w.failed = err
		w.mu.Unlock()
		if first {
			w.log.Warn("appending run log failed; will retry", zap.String("run_id", w.runID), zap.Error(err))
		}
		return
	}
	w.mu.Lock()
	w.pending = append([]byte(nil), w.pending[n:]...)
	w.flushed += int64(n)
	w.retry = 0
	w.mu.Unlock()
}

// subscribe registers a live follower and returns the bytes not yet in the
// store with their offset. Every byte after them arrives on the
// subscription's channel, which is closed when the writer closes or the
// follower lags. ok is false once the writer is closed.
func (w *logWriter) subscribe() (s *subscription, pending chunk, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, chunk{}, false
	}
	s = &subscription{ch: make(chan chunk, subscriberBuffer), from: w}
	w.subs[s] = struct{}{}
	return s, chunk{Start: w.flushed, Data: append([]byte(nil), w.pending...)}, true
}

func (w *logWriter) unsubscribe(s *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.subs[s]; ok {
		delete(w.subs, s)
		close(s.ch)
	}
}

// close ends every subscription; later writes are dropped.
func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for s := range w.subs {
		close(s.ch)
		delete(w.subs, s)
	}
}

// logHub finds the writer of each run active on this instance.
type logHub struct {
	mu      sync.Mutex
	writers map[string]*logWriter
}

func newLogHub() *logHub { return &logHub{writers: map[string]*logWriter{}} }

func (h *logHub) add(w *logWriter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writers[w.runID] = w
}

func (h *logHub) remove(runID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.writers, runID)
}

func (h *logHub) get(runID string) *logWriter {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writers[runID]
}

// subscribe implements localRuns: it follows the live log of a run this
// instance works.
func (w *Worker) subscribe(runID string) (*subscription, chunk, bool) {
	lw := w.hub.get(runID)
	if lw == nil {
		return nil, chunk{}, false
	}
	return lw.subscribe()
}
