package containers

import (
	"context"
	"errors"
	"io"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Why a Start failed, as Observer.ContainerStartFailed names it: a few
// fixed reasons, so what a metric records stays bounded.
const (
	FailImageNotFound = "image_not_found"
	FailInvalidSpec   = "invalid_spec"
	FailUnavailable   = "docker_unavailable"
	FailCanceled      = "canceled"
	FailOther         = "error"
)

// Observer is told what the engine did; the metrics module provides one
// when metrics are on.
type Observer interface {
	// ContainerStarted: Start (or StartAttached) created and started a
	// container.
	ContainerStarted()
	// ContainerStartFailed: Start (or StartAttached) failed, for one of the
	// Fail* reasons.
	ContainerStartFailed(reason string)
	// ContainersReaped: a clean-up (Reap) removed n containers.
	ContainersReaped(n int)
}

// Observed returns e reporting to o; e itself when o is nil. Every method
// not observed passes straight through, including ones added to Engine later.
func Observed(e Engine, o Observer) Engine {
	if o == nil {
		return e
	}
	return &observed{Engine: e, o: o}
}

type observed struct {
	Engine
	o Observer
}

func (e *observed) Start(ctx context.Context, spec Spec) (string, error) {
	id, err := e.Engine.Start(ctx, spec)
	e.started(ctx, err)
	return id, err
}

func (e *observed) StartAttached(ctx context.Context, spec Spec) (string, io.ReadCloser, error) {
	id, out, err := e.Engine.StartAttached(ctx, spec)
	e.started(ctx, err)
	return id, out, err
}

// started reports a start, either way it went.
func (e *observed) started(ctx context.Context, err error) {
	if err != nil {
		e.o.ContainerStartFailed(startFailure(ctx, err))
	} else {
		e.o.ContainerStarted()
	}
}

func (e *observed) Reap(ctx context.Context, keep func(Container) bool) ([]Container, error) {
	gone, err := e.Engine.Reap(ctx, keep)
	if len(gone) > 0 {
		e.o.ContainersReaped(len(gone))
	}
	return gone, err
}

// startFailure names why Start failed; a start the caller gave up on (a
// canceled run, a stopping server) is not the engine's failure.
func startFailure(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, ErrImageNotFound):
		return FailImageNotFound
	case errors.Is(err, ErrInvalidSpec):
		return FailInvalidSpec
	case ctx.Err() != nil:
		return FailCanceled
	case errors.Is(err, derrors.ErrUnavailable):
		return FailUnavailable
	}
	return FailOther
}
