package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
)

func TestLocalIsFIFOAndDeduplicates(t *testing.T) {
	q := queue.NewLocal()
	ctx := context.Background()
	for _, id := range []string{"a", "b", "a", "c", "b"} {
		require.NoError(t, q.Enqueue(ctx, id))
	}
	require.Equal(t, 3, q.Len())
	var got []string
	for range 3 {
		d, err := q.Next(ctx)
		require.NoError(t, err)
		require.NoError(t, d.Ack(ctx))
		got = append(got, d.RunID)
	}
	require.Equal(t, []string{"a", "b", "c"}, got)
	// Once taken, an id may be queued again.
	require.NoError(t, q.Enqueue(ctx, "a"))
	require.Equal(t, 1, q.Len())
}

// TestLocalNextWaitsAndHonoursContext runs in a synctest bubble: Wait
// returns only once the consumer is durably blocked in Next, so the enqueue
// must wake a Next that is already waiting (not one that finds the item on
// arrival), and the deadline passes on the bubble's clock.
func TestLocalNextWaitsAndHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := queue.NewLocal()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := q.Next(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)

		got := make(chan string, 1)
		errs := make(chan error, 1)
		go func() {
			d, err := q.Next(context.Background())
			if err != nil {
				errs <- err
				return
			}
			got <- d.RunID
		}()
		synctest.Wait() // the consumer waits in Next
		require.Empty(t, got, "Next returned from an empty queue")
		require.NoError(t, q.Enqueue(context.Background(), "x"))
		synctest.Wait()
		// Close ends a Next the enqueue failed to wake, so the bubble exits.
		require.NoError(t, q.Close())
		select {
		case id := <-got:
			require.Equal(t, "x", id)
		default:
			t.Fatalf("Next did not wake on Enqueue (then: %v)", <-errs)
		}
	})
}

func TestLocalManyConsumersGetEachIDOnce(t *testing.T) {
	q := queue.NewLocal()
	const n = 500
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := q.Next(context.Background())
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				mu.Lock()
				got = append(got, d.RunID)
				done := len(got) == n
				mu.Unlock()
				if done {
					_ = q.Close()
				}
			}
		}()
	}
	want := make([]string, 0, n)
	for i := range n {
		id := fmt.Sprintf("run-%04d", i)
		want = append(want, id)
		require.NoError(t, q.Enqueue(context.Background(), id))
	}
	wg.Wait()
	sort.Strings(got)
	require.Equal(t, want, got)
}

func TestLocalClose(t *testing.T) {
	q := queue.NewLocal()
	errc := make(chan error, 1)
	go func() { _, err := q.Next(context.Background()); errc <- err }()
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	require.ErrorIs(t, <-errc, queue.ErrClosed)
	require.ErrorIs(t, q.Enqueue(context.Background(), "a"), queue.ErrClosed)
}

// checksIn collects the readiness checks the module provides.
type checksIn struct {
	fx.In
	Checks []readiness.Check `group:"readiness"`
}

func TestModuleChoosesBackend(t *testing.T) {
	tests := []struct {
		backend string
		storage string
		wantErr string
		checks  []string
	}{
		{queue.BackendLocal, settings.BackendJSON, "", nil},
		{"", settings.BackendJSON, "", nil}, // JSON records: local
		{queue.BackendPostgres, settings.BackendJSON, "setting SLIPWAY_QUEUE: postgres needs SLIPWAY_STORAGE_BACKEND=postgres", nil},
		{queue.BackendSQS, settings.BackendJSON, "", []string{"queue"}},
		{"carrier-pigeon", settings.BackendJSON, "unknown backend", nil},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			s := &settings.Settings{Queue: settings.Queue{Backend: tt.backend, SQSQueueURL: "http://127.0.0.1:1/000000000000/q",
				SQSWaitTime: time.Second, SQSVisibilityTimeout: 30 * time.Second}, Storage: settings.Storage{Backend: tt.storage}}
			records := &storage.Records{Backend: tt.storage}
			var q queue.Queue
			var in checksIn
			opts := fx.Options(fx.Supply(s, records, zap.NewNop()), queue.Module, fx.NopLogger, fx.Populate(&q, &in))
			if tt.wantErr != "" {
				require.ErrorContains(t, fx.New(opts).Err(), tt.wantErr)
				return
			}
			app := fxtest.New(t, opts)
			app.RequireStart()
			var names []string
			for _, c := range in.Checks {
				names = append(names, c.Name)
				require.True(t, c.Optional, "runs are accepted while the queue is down")
			}
			require.Equal(t, tt.checks, names)
			app.RequireStop()
			_, err := q.Next(context.Background())
			require.ErrorIs(t, err, queue.ErrClosed)
		})
	}
}
