// Package queue hands run ids from the API to the workers. The Queue
// interface is what both sides use. Three backends: "local", an in-process
// FIFO; "postgres", where the runs table is the queue and this package only
// wakes the workers (LISTEN/NOTIFY, with a slow poll under it); and "sqs",
// Amazon SQS.
//
// A queue is never the source of truth: a run is waiting exactly when its
// record says "queued". A worker claims a run by changing its status in
// the records store, atomically, so a duplicate or stale delivery is
// harmless: delivery is at least once, the claim is idempotent, and Ack
// comes after the claim (or after finding the run no longer queued). The
// local backend is made durable through the records store by its consumer,
// which enqueues every run still queued at start and at each heartbeat;
// the sqs backend's consumer enqueues again the queued runs SQS lost (a
// send that failed while SQS was unreachable).
package queue

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Backends named by settings (SLIPWAY_QUEUE).
const (
	BackendLocal    = settings.QueueLocal
	BackendPostgres = settings.QueuePostgres
	BackendSQS      = settings.QueueSQS
)

// Queue is a FIFO of run ids. Implementations are safe for concurrent use.
type Queue interface {
	// Enqueue adds runID to the tail of the queue. Call it once the run's
	// record is committed as queued.
	Enqueue(ctx context.Context, runID string) error
	// Next blocks until a run id is available and returns it, or returns
	// ctx's error when ctx ends first, or ErrClosed once the queue is closed.
	// Call it only with room to work the run: what it returns is not
	// offered to other workers until it is acknowledged or released.
	Next(ctx context.Context) (Delivery, error)
	// Close wakes every Next with ErrClosed and refuses later Enqueues.
	Close() error
}

// Delivery is one run id taken from the queue.
type Delivery struct {
	// RunID is the run to claim. It is empty for a wake-up of the postgres
	// backend, whose queue is the runs table itself: the consumer then
	// claims the oldest queued run there (FOR UPDATE SKIP LOCKED), and,
	// having claimed one, claims again before it waits for the next
	// wake-up, since one wake-up may stand for many runs.
	RunID string
	// Ack tells the queue the delivery was handled (its run claimed, found
	// no longer queued, or found not to exist), so that it is not delivered
	// again. It is never nil.
	Ack func(ctx context.Context) error
	// Nack tells the queue the delivery was not handled (the claim failed):
	// it may be delivered again later. It is never nil.
	Nack func(ctx context.Context) error
}

// Counter is implemented by queues that can tell about how many ids they
// hold (sqs), which lets a sweeper see that ids were lost.
type Counter interface {
	// Approximate returns about how many ids the queue holds: waiting,
	// being delivered, and delayed.
	Approximate(ctx context.Context) (int, error)
}

// ErrClosed is returned by a closed queue.
var ErrClosed = errors.New("queue closed")

// Module provides the Queue the settings choose, and for sqs the optional
// readiness check "queue" (an unreachable SQS does not stop runs from being
// accepted: they wait in the records store until SQS answers again).
var Module = fx.Module("queue",
	fx.Provide(
		New,
		fx.Annotate(checks, fx.ResultTags(`group:"readiness,flatten"`)),
	),
)

// Params are New's dependencies.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Settings  *settings.Settings
	Records   *storage.Records
	Log       *zap.Logger
}

// New returns the queue backend of the settings. It does no I/O.
func New(p Params) (Queue, error) {
	s := p.Settings
	log := p.Log.Named("queue")
	var q Queue
	switch b := s.QueueBackend(); b {
	case BackendLocal:
		q = NewLocal()
	case BackendPostgres:
		if p.Records.DB == nil {
			return nil, errors.New("setting SLIPWAY_QUEUE: postgres needs SLIPWAY_STORAGE_BACKEND=postgres")
		}
		q = NewPostgres(p.Records.DB, s.Queue.PollInterval, log)
	case BackendSQS:
		sq, err := NewSQS(SQSConfig{
			QueueURL:          s.Queue.SQSQueueURL,
			Endpoint:          s.Queue.SQSEndpoint,
			Region:            s.Queue.SQSRegion,
			WaitTime:          s.Queue.SQSWaitTime,
			VisibilityTimeout: s.Queue.SQSVisibilityTimeout,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("setting SLIPWAY_SQS_QUEUE_URL: %w", err)
		}
		q = sq
	default:
		return nil, fmt.Errorf("setting SLIPWAY_QUEUE: unknown backend %q", b)
	}
	p.Lifecycle.Append(fx.StopHook(q.Close))
	return q, nil
}

// checks is the queue's readiness: SQS answering, for sqs; nothing
// otherwise (the postgres queue is the records check's database).
func checks(q Queue) []readiness.Check {
	sq, ok := q.(*SQS)
	if !ok {
		return nil
	}
	return []readiness.Check{{Name: "queue", Optional: true, Probe: sq.Ping}}
}

func noAck(context.Context) error { return nil }
