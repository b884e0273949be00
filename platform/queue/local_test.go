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

	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/settings"
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

func TestModuleChoosesBackend(t *testing.T) {
	tests := []struct {
		backend string
		wantErr string
	}{
		{queue.BackendLocal, ""},
		{queue.BackendSQS, `setting SLIPWAY_QUEUE: "sqs" is not available in this build`},
		{"carrier-pigeon", "unknown backend"},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			s := &settings.Settings{Queue: settings.Queue{Backend: tt.backend}}
			var q queue.Queue
			if tt.wantErr != "" {
				err := fx.New(fx.Supply(s), queue.Module, fx.NopLogger, fx.Populate(&q)).Err()
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			app := fxtest.New(t, fx.Supply(s), queue.Module, fx.NopLogger, fx.Populate(&q))
			app.RequireStart()
			require.NoError(t, q.Enqueue(context.Background(), "r"))
			app.RequireStop()
			_, err := q.Next(context.Background())
			require.ErrorIs(t, err, queue.ErrClosed)
		})
	}
}
