package containers

import (
	"context"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/slipwayhq/slipway/platform/derrors"
)

var (
	// ErrInvalidSpec means Start refused a spec before asking Docker: a missing
	// field, a root or non-numeric user, a host network, or a workspace that
	// would expose the Docker socket or a system directory.
	ErrInvalidSpec = errors.New("invalid container spec")
	// ErrImageNotFound means the image is not present on the Docker host.
	// Start never pulls: images are loaded onto the host by the operator.
	ErrImageNotFound = errors.New("image not present on the docker host")
)

// classify maps a Docker client error onto the shared categories. ctx is the
// caller's context, to tell the caller giving up from a daemon that did not
// answer within our own per-call deadline.
func (r *Runtime) classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, derrors.ErrUnavailable), errors.Is(err, derrors.ErrNotFound):
		return err
	case client.IsErrConnectionFailed(err):
		return derrors.Unavailable("docker", err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", derrors.ErrNotFound, err)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return derrors.Unavailable("docker", fmt.Errorf("no answer within the call timeout: %w", err))
	}
	return err
}

// classifyStream is classify for errors met while reading a response that had
// already started: the daemon going away mid-stream shows as an EOF.
func (r *Runtime) classifyStream(ctx context.Context, err error) error {
	if ctx.Err() == nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
		return derrors.Unavailable("docker", fmt.Errorf("stream cut: %w", err))
	}
	return r.classify(ctx, err)
}
