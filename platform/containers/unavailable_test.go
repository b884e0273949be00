package containers_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// These tests need no Docker: they point the runtime at a daemon that is not
// there, or that accepts connections and never answers.

func TestNoDaemonIsUnavailableQuickly(t *testing.T) {
	t.Parallel()
	rt, err := containers.New(containers.Config{Host: "unix://" + filepath.Join(shortTempDir(t), "absent.sock")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	spec := containers.Spec{Image: "img", Cmd: []string{"true"}, Workspace: t.TempDir(), RunID: "r", InstanceID: "i"}
	const id = "0123456789ab"

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", rt.Ping},
		{"Start", func(ctx context.Context) error { _, err := rt.Start(ctx, spec); return err }},
		{"Wait", func(ctx context.Context) error { _, err := rt.Wait(ctx, id); return err }},
		{"StartAttached", func(ctx context.Context) error { _, _, err := rt.StartAttached(ctx, spec); return err }},
		{"Stop", func(ctx context.Context) error { return rt.Stop(ctx, id, time.Second) }},
		{"Remove", func(ctx context.Context) error { return rt.Remove(ctx, id) }},
		{"List", func(ctx context.Context) error { _, err := rt.List(ctx, containers.Filter{}); return err }},
		{"Reap", func(ctx context.Context) error {
			_, err := rt.Reap(ctx, func(containers.Container) bool { return false })
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			err := tt.call(context.Background())
			require.ErrorIs(t, err, derrors.ErrUnavailable)
			var ue *derrors.UnavailableError
			require.True(t, errors.As(err, &ue))
			require.Equal(t, "docker", ue.Service)
			require.Less(t, time.Since(began), 2*time.Second)
		})
	}
}

func TestSilentDaemonIsUnavailableWithinTimeout(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortTempDir(t), "silent.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	// Accept and hold every connection without a byte of answer.
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	rt, err := containers.New(containers.Config{
		Host:        "unix://" + sock,
		PingTimeout: 300 * time.Millisecond,
		CallTimeout: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })

	t.Run("Ping", func(t *testing.T) {
		began := time.Now()
		err := rt.Ping(context.Background())
		require.ErrorIs(t, err, derrors.ErrUnavailable)
		require.Less(t, time.Since(began), 2*time.Second)
	})
	t.Run("Start", func(t *testing.T) {
		began := time.Now()
		_, err := rt.Start(context.Background(), containers.Spec{Image: "img", Workspace: t.TempDir(), RunID: "r", InstanceID: "i"})
		require.ErrorIs(t, err, derrors.ErrUnavailable)
		require.Less(t, time.Since(began), 3*time.Second)
	})
	t.Run("the caller giving up is not an outage", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := rt.Ping(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, derrors.ErrUnavailable)
		_, err = rt.List(ctx, containers.Filter{})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, derrors.ErrUnavailable)
	})
}
