package queue

import (
	"context"
	"sync"
)

// Local is the in-process queue: an unbounded FIFO of distinct ids. An id
// already waiting is not added twice.
type Local struct {
	mu      sync.Mutex
	items   []string
	waiting map[string]bool
	closed  bool
	// signal holds one token while items may be non-empty, waking a Next.
	signal chan struct{}
	done   chan struct{}
}

var _ Queue = (*Local)(nil)

// NewLocal returns an empty local queue.
func NewLocal() *Local {
	return &Local{waiting: map[string]bool{}, signal: make(chan struct{}, 1), done: make(chan struct{})}
}

// Enqueue implements Queue.
func (q *Local) Enqueue(_ context.Context, runID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.waiting[runID] {
		return nil
	}
	q.waiting[runID] = true
	q.items = append(q.items, runID)
	q.wake()
	return nil
}

// wake leaves a token for one Next; the caller holds mu.
func (q *Local) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// Next implements Queue.
func (q *Local) Next(ctx context.Context) (Delivery, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Delivery{}, ErrClosed
		}
		if len(q.items) > 0 {
			id := q.items[0]
			q.items[0] = ""
			q.items = q.items[1:]
			delete(q.waiting, id)
			if len(q.items) > 0 {
				q.wake() // pass the token on to the next waiter
			}
			q.mu.Unlock()
			return Delivery{RunID: id, Ack: noAck, Nack: noAck}, nil
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-q.done:
		case <-ctx.Done():
			return Delivery{}, ctx.Err()
		}
	}
}

// Len returns the number of ids waiting.
func (q *Local) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Close implements Queue; it is idempotent.
func (q *Local) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}
