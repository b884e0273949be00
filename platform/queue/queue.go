// Package queue hands run ids from the API to the workers. The Queue
// interface is what both sides use; the "local" backend is an in-process FIFO.
//
// A queue holds ids only and is never the source of truth: a run is waiting
// exactly when its record says "queued". The local backend is made durable
// through the records store by its consumer, which enqueues every run still
// queued when the process starts (oldest first), and a worker claims a run by
// changing its status, so a duplicate or stale delivery is harmless. That is
// also the contract a distributed backend (SQS) must keep: at-least-once
// delivery, with Ack after the claim.
package queue

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/settings"
)

// Backends named by settings (SLIPWAY_QUEUE).
const (
	BackendLocal = "local"
	BackendSQS   = "sqs"
)

// Queue is a FIFO of run ids. Implementations are safe for concurrent use.
type Queue interface {
	// Enqueue adds runID to the tail of the queue.
	Enqueue(ctx context.Context, runID string) error
	// Next blocks until a run id is available and returns it, or returns
	// ctx's error when ctx ends first, or ErrClosed once the queue is closed.
	Next(ctx context.Context) (Delivery, error)
	// Close wakes every Next with ErrClosed and refuses later Enqueues.
	Close() error
}

// Delivery is one run id taken from the queue.
type Delivery struct {
	RunID string
	// Ack tells the queue the delivery was handled (claimed, or found to be
	// no longer queued), so a distributed backend does not deliver it again.
	// It is never nil.
	Ack func(ctx context.Context) error
}

// ErrClosed is returned by a closed queue.
var ErrClosed = errors.New("queue closed")

// Module provides the Queue the settings choose.
var Module = fx.Module("queue",
	fx.Provide(New),
)

// New returns the queue backend of the settings. It does no I/O. SQS is a
// valid setting but not part of this build: asking for it fails the start
// with one line rather than silently running another backend.
func New(lc fx.Lifecycle, s *settings.Settings) (Queue, error) {
	switch s.Queue.Backend {
	case BackendLocal:
		q := NewLocal()
		lc.Append(fx.StopHook(q.Close))
		return q, nil
	case BackendSQS:
		return nil, errors.New("setting SLIPWAY_QUEUE: \"sqs\" is not available in this build; use \"local\"")
	}
	return nil, fmt.Errorf("setting SLIPWAY_QUEUE: unknown backend %q", s.Queue.Backend)
}
