package queue

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
	"go.uber.org/zap"
)

// PostgresChannel is the NOTIFY channel of queued runs; the payload is the
// run id, for logs only: a woken worker claims the oldest queued run.
const PostgresChannel = "slipway_runs_queued"

// Postgres is the postgres backend: the runs table is the queue, so this
// side carries no ids, only wake-ups. Enqueue sends a NOTIFY (the run's
// insert has committed by then) and wakes a Next of this process directly.
// Next returns a wake-up (a Delivery without RunID) when a notification
// arrives, when the poll interval passes without one (the safety net: a
// NOTIFY is lost when the listener's connection is, or when the sender
// fails between its commit and the NOTIFY), and when the listener
// (re)connects. While it cannot listen it wakes at each retry, at most a
// poll interval apart. The listener connects on the first Next, so an
// API-only instance, which only enqueues, holds no LISTEN connection.
type Postgres struct {
	db   *bun.DB
	poll time.Duration
	log  *zap.Logger

	// wake holds one token while a run may be waiting; wake-ups coalesce
	// because the consumer claims until the table has none left.
	wake chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{} // closed by Close
	cancel  context.CancelFunc
	stopped chan struct{} // closed when the listener returns

	// onListen, when set (tests), is called each time the listener listens.
	onListen func()
}

var _ Queue = (*Postgres)(nil)

// NewPostgres returns the postgres backend on db, polling every poll
// while idle. It does no I/O.
func NewPostgres(db *bun.DB, poll time.Duration, log *zap.Logger) *Postgres {
	return &Postgres{db: db, poll: poll, log: log, wake: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{})}
}

// Enqueue implements Queue: it notifies every listening worker.
func (q *Postgres) Enqueue(ctx context.Context, runID string) error {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return ErrClosed
	}
	q.signal()
	return pgdriver.Notify(ctx, q.db, PostgresChannel, runID)
}

// Next implements Queue: it returns a wake-up, which carries no run id.
func (q *Postgres) Next(ctx context.Context) (Delivery, error) {
	if err := q.start(); err != nil {
		return Delivery{}, err
	}
	select {
	case <-q.done:
		return Delivery{}, ErrClosed
	default:
	}
	select {
	case <-q.wake:
		return Delivery{Ack: noAck, Nack: noAck}, nil
	case <-q.done:
		return Delivery{}, ErrClosed
	case <-ctx.Done():
		return Delivery{}, ctx.Err()
	}
}

// Close implements Queue; it stops the listener and is idempotent.
func (q *Postgres) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	started := q.started
	q.mu.Unlock()
	if started {
		q.cancel()
		<-q.stopped
	}
	return nil
}

// signal leaves the wake-up token, unless one is waiting already.
func (q *Postgres) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// start starts the listener once.
func (q *Postgres) start() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if !q.started {
		q.started = true
		var ctx context.Context
		ctx, q.cancel = context.WithCancel(context.Background())
		go q.listen(ctx)
	}
	return nil
}

// listen keeps a LISTEN connection until ctx ends, waking the consumer on
// each notification, each poll interval without one, and each (re)connect.
func (q *Postgres) listen(ctx context.Context) {
	defer close(q.stopped)
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	lost := false
	listening := func() {
		if lost {
			q.log.Info("run queue listener is back")
		}
		lost, backoff = false, minBackoff
		if q.onListen != nil {
			q.onListen()
		}
	}
	for ctx.Err() == nil {
		ln := pgdriver.NewListener(q.db)
		// Receive does not return on ctx: closing the listener unblocks it.
		stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
		err := ln.Listen(ctx, PostgresChannel)
		if err == nil {
			err = q.receive(ctx, ln, listening)
		}
		stop()
		_ = ln.Close()
		if ctx.Err() != nil {
			return
		}
		if !lost {
			lost = true
			q.log.Warn("run queue listener lost; polling until it listens again", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		q.signal() // not listening: poll at each retry
		backoff = min(2*backoff, q.poll)
	}
}

// confirmTries bounds how often receive notifies itself before it gives up
// on a LISTEN that never takes effect, and connects again.
const confirmTries = 50

// errNotListening is receive's error for a LISTEN that never took effect.
var errNotListening = errors.New("LISTEN did not take effect")

// receive wakes the consumer on each notification and, as the poll, each
// time q.poll passes without one; it returns the listener's first error.
// Listen only sends LISTEN, which takes effect a moment later: until a
// notification shows it has, receive sends one to itself every 100ms (at
// most confirmTries times), and calls listening and wakes the consumer
// once it is back, since what was queued while not listening is in the
// table and nothing notified about it is lost from then on.
func (q *Postgres) receive(ctx context.Context, ln *pgdriver.Listener, listening func()) error {
	tries := 0
	for {
		timeout := q.poll
		if tries >= 0 { // not confirmed yet
			if tries++; tries > confirmTries {
				return errNotListening
			}
			if err := pgdriver.Notify(ctx, q.db, PostgresChannel, ""); err != nil {
				return err
			}
			timeout = min(timeout, 100*time.Millisecond)
		}
		_, _, err := ln.ReceiveTimeout(ctx, timeout)
		var ne net.Error
		switch {
		case err == nil && tries >= 0:
			tries = -1
			listening()
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			if tries >= 0 {
				continue // not confirmed yet: notify again
			}
		default:
			return err
		}
		q.signal()
	}
}
