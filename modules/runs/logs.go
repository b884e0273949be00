package runs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// logKey and patchKey name a run's objects; objectPrefix holds both.
func logKey(runID string) string       { return "runs/" + runID + "/log" }
func patchKey(runID string) string     { return "runs/" + runID + "/patch" }
func objectPrefix(runID string) string { return "runs/" + runID }

// truncationMarker ends a log cut at max bytes.
func truncationMarker(max int64) []byte {
	return fmt.Appendf(nil, "\n[slipway: log truncated at %d bytes; the agent's further output was discarded]\n", max)
}

// errLogStore is why a run whose log could not be stored was stopped.
var errLogStore = errors.New("the run's log could not be stored")

// logLimits bound one run's log writer.
type logLimits struct {
	// every and batch: flush every interval, or as soon as batch bytes
	// wait, whichever comes first.
	every time.Duration
	batch int
	// maxPending bounds the bytes held in memory until the store has them:
	// Write waits above it, which slows the agent down.
	maxPending int
	// maxBytes caps the log: the agent's output past it is discarded,
	// after a marker line.
	maxBytes int64
	// failAfter is how long appends may keep failing while Write waits on
	// a full buffer before the writer gives up.
	failAfter time.Duration
}

// logWriter collects one active run's output: it appends it to the object
// store in batches, each at its offset, and lets this instance's followers
// read the bytes the store does not have yet. Its memory is bounded
// whatever the agent writes: at most maxPending bytes wait for the store.
type logWriter struct {
	runID  string
	store  objects.Store
	log    *zap.Logger
	limits logLimits

	mu        sync.Mutex
	room      *sync.Cond    // signalled when pending shrinks or the writer ends
	total     int64         // the log's length: output kept, marker included
	flushed   int64         // bytes durably appended
	pending   []byte        // bytes [flushed, total)
	retry     int           // when > 0: the length of the failed append to retry
	truncated bool          // the log reached maxBytes
	discarded int64         // output dropped after the truncation
	closed    bool          // no more output
	failing   time.Time     // when appends started to fail; zero while they succeed
	lastErr   error         // the last append failure
	err       error         // sticky: the writer gave up, Write returns it
	changed   chan struct{} // closed, and replaced, whenever total grows or the writer closes
	full      chan struct{} // wakes the flusher early
}

func newLogWriter(runID string, store objects.Store, log *zap.Logger, limits logLimits) *logWriter {
	w := &logWriter{runID: runID, store: store, log: log, limits: limits,
		changed: make(chan struct{}), full: make(chan struct{}, 1)}
	w.room = sync.NewCond(&w.mu)
	return w
}

// Write takes a piece of the agent's output. It never waits on a follower;
// it waits for the store only while maxPending bytes are pending, and
// fails once the writer has given up on the store. Output past maxBytes is
// discarded (and counted as written, so the agent's output keeps draining).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		for w.err == nil && !w.closed && len(w.pending) >= w.limits.maxPending {
			w.room.Wait()
		}
		switch {
		case w.err != nil:
			return n - len(p), w.err
		case w.closed:
			return n, nil
		case w.truncated:
			w.discarded += int64(len(p))
			return n, nil
		}
		kept := w.total // no marker yet
		take := min(len(p), w.limits.maxPending-len(w.pending))
		if over := kept + int64(take) - w.limits.maxBytes; over > 0 {
			take -= int(over)
			w.pending = append(w.pending, p[:take]...)
			w.pending = append(w.pending, truncationMarker(w.limits.maxBytes)...)
			w.total += int64(take) + int64(len(truncationMarker(w.limits.maxBytes)))
			w.truncated = true
			w.discarded += int64(len(p) - take)
			w.log.Warn("run log truncated", zap.Int64("max_bytes", w.limits.maxBytes))
			w.notify()
			return n, nil
		}
		w.pending = append(w.pending, p[:take]...)
		w.total += int64(take)
		p = p[take:]
		w.notify()
	}
	return n, nil
}

// notify wakes the followers and, when a batch is ready, the flusher; mu
// is held.
func (w *logWriter) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
	if len(w.pending) >= w.limits.batch {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
}

// run flushes until ctx ends.
func (w *logWriter) run(ctx context.Context) {
	t := time.NewTicker(w.limits.every)
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
// A writer whose appends have failed for failAfter while its buffer is full
// gives up (a conflict at once: another writer has the log): Write then
// fails, and the run is stopped rather than hold more of its output.
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
	err := w.store.AppendAt(ctx, logKey(w.runID), off, data)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.retry, w.lastErr = n, err
		first := w.failing.IsZero()
		if first {
			w.failing = time.Now()
			w.log.Warn("appending run log failed; will retry", zap.Error(err))
		}
		switch {
		case w.err != nil:
		case errors.Is(err, derrors.ErrConflict):
			w.giveUp(err)
		case len(w.pending) >= w.limits.maxPending && time.Since(w.failing) >= w.limits.failAfter:
			w.giveUp(err)
		}
		return
	}
	if !w.failing.IsZero() {
		w.log.Info("appending run log works again",
			zap.Duration("failed_for", time.Since(w.failing)))
	}
	w.failing, w.lastErr, w.retry = time.Time{}, nil, 0
	w.pending = append(w.pending[:0:0], w.pending[n:]...)
	w.flushed += int64(n)
	w.room.Broadcast()
}

// giveUp ends the writer on a store failure; mu is held.
func (w *logWriter) giveUp(cause error) {
	w.err = fmt.Errorf("%w: %w", errLogStore, cause)
	w.log.Error("giving up on the run log", zap.Int("pending_bytes", len(w.pending)),
		zap.Duration("failing_for", time.Since(w.failing)), zap.Error(cause))
	w.room.Broadcast()
}

// unstored returns how many bytes of the log the store does not have.
func (w *logWriter) unstored() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// wasTruncated reports whether the log reached its cap.
func (w *logWriter) wasTruncated() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.truncated
}

// close ends the output: followers see the end, a waiting Write returns
// and later output is dropped.
func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	close(w.changed)
	w.room.Broadcast()
	if w.discarded > 0 {
		w.log.Info("run output discarded past the log's cap", zap.Int64("bytes", w.discarded))
	}
}

// logView is what a follower at some offset learns from the writer.
type logView struct {
	n       int           // bytes copied
	flushed int64         // bytes before this are in the store
	total   int64         // the log's length
	closed  bool          // no more bytes will come
	changed chan struct{} // closed when that changes
}

// readAt copies unstored bytes from off into buf.
func (w *logWriter) readAt(off int64, buf []byte) logView {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := logView{flushed: w.flushed, total: w.total, closed: w.closed, changed: w.changed}
	if off >= w.flushed && off < w.total {
		v.n = copy(buf, w.pending[off-w.flushed:])
	}
	return v
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

// liveLog implements localRuns: the writer of a run this instance works.
func (w *Worker) liveLog(runID string) *logWriter { return w.hub.get(runID) }
