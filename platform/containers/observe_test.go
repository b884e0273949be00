package containers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// scripted is an Engine whose Start and Reap answer what the test says;
// any other method panics (the embedded interface is nil).
type scripted struct {
	containers.Engine
	startErr error
	reaped   []containers.Container
	pinged   bool
}

func (s *scripted) Start(context.Context, containers.Spec) (string, error) {
	if s.startErr != nil {
		return "", s.startErr
	}
	return "c1", nil
}

func (s *scripted) StartAttached(ctx context.Context, spec containers.Spec) (string, io.ReadCloser, error) {
	id, err := s.Start(ctx, spec)
	if err != nil {
		return "", nil, err
	}
	return id, io.NopCloser(strings.NewReader("output")), nil
}

func (s *scripted) Reap(context.Context, func(containers.Container) bool) ([]containers.Container, error) {
	return s.reaped, nil
}

func (s *scripted) Ping(context.Context) error { s.pinged = true; return nil }

// tally is an Observer that counts.
type tally struct {
	started int
	failed  []string
	reaped  int
}

func (t *tally) ContainerStarted()                  { t.started++ }
func (t *tally) ContainerStartFailed(reason string) { t.failed = append(t.failed, reason) }
func (t *tally) ContainersReaped(n int)             { t.reaped += n }

func TestObservedCountsStartsFailuresAndCleanUps(t *testing.T) {
	inner := &scripted{}
	require.Same(t, containers.Engine(inner), containers.Observed(inner, nil), "no observer, no wrapper")

	obs := &tally{}
	e := containers.Observed(inner, obs)
	ctx := context.Background()
	_, err := e.Start(ctx, containers.Spec{})
	require.NoError(t, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		ctx context.Context
		err error
	}{
		{ctx, fmt.Errorf("start: %w", containers.ErrImageNotFound)},
		{ctx, fmt.Errorf("start: %w", containers.ErrInvalidSpec)},
		{ctx, derrors.Unavailable("docker", errors.New("refused"))},
		{canceled, derrors.Unavailable("docker", context.Canceled)},
		{ctx, errors.New("conflict")},
	} {
		inner.startErr = tc.err
		_, err := e.Start(tc.ctx, containers.Spec{})
		require.ErrorIs(t, err, tc.err, "the error passes through unchanged")
	}
	require.Equal(t, 1, obs.started)
	require.Equal(t, []string{containers.FailImageNotFound, containers.FailInvalidSpec, containers.FailUnavailable,
		containers.FailCanceled, containers.FailOther}, obs.failed)

	// Runs start their containers attached: counted the same.
	inner.startErr = nil
	_, out, err := e.StartAttached(ctx, containers.Spec{})
	require.NoError(t, err)
	got, err := io.ReadAll(out)
	require.NoError(t, err)
	require.Equal(t, "output", string(got), "the output passes through")
	inner.startErr = containers.ErrImageNotFound
	_, _, err = e.StartAttached(ctx, containers.Spec{})
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	require.Equal(t, 2, obs.started)
	require.Equal(t, containers.FailImageNotFound, obs.failed[len(obs.failed)-1])

	_, err = e.Reap(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, obs.reaped, "a clean-up that removed nothing")
	inner.reaped = []containers.Container{{ID: "a"}, {ID: "b"}}
	_, err = e.Reap(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 2, obs.reaped)

	require.NoError(t, e.Ping(ctx))
	require.True(t, inner.pinged, "other methods pass through")
}
