package containers_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers"
)

// These tests measure what the runs module pays: the latency of one Start
// (create + start) and the wall time of reaping many leftovers at boot. They
// log the numbers (go test -run 'TestStartLatency|TestReapCost' -v) and check
// the work was really done.

func TestStartLatency(t *testing.T) {
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		// Dozens of containers at once: kept out of CI runs, where they only
		// load the shared Docker daemon. `go tool task measure` runs them.
		t.Skip("measurement: set SLIPWAY_MEASURE=1")
	}
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 20
	durations := make([]time.Duration, 0, n)
	for i := range n {
		spec := e.spec(t, "sleep 1000")
		spec.RunID = fmt.Sprintf("latency-%d", i)
		began := time.Now()
		id, err := e.rt.Start(ctx, spec)
		durations = append(durations, time.Since(began))
		require.NoError(t, err)
		// Keep the engine's load steady: one running container at a time.
		require.NoError(t, e.rt.Remove(ctx, id))
	}
	t.Logf("in order of start: %v", durations)
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	t.Logf("Start (create+start) over %d: p50 %v, p99 %v, min %v, max %v",
		n, durations[percentile(n, 50)], durations[percentile(n, 99)], durations[0], durations[n-1])
}

func TestReapCost(t *testing.T) {
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		// Dozens of containers at once: kept out of CI runs, where they only
		// load the shared Docker daemon. `go tool task measure` runs them.
		t.Skip("measurement: set SLIPWAY_MEASURE=1")
	}
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const n = 50
	stale := make(map[string]bool, n)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		sem  = make(chan struct{}, 4)
	)
	began := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			spec := e.spec(t, "sleep 1000")
			spec.RunID = fmt.Sprintf("stale-%d", i)
			id, err := e.rt.Start(ctx, spec)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			stale[id] = true
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	t.Logf("started %d stale containers in %v", n, time.Since(began))

	began = time.Now()
	removed, err := e.rt.Reap(ctx, func(c containers.Container) bool { return c.InstanceID != e.instance })
	took := time.Since(began)
	require.NoError(t, err)

	require.ElementsMatch(t, keys(stale), ids(removed))
	left, err := e.rt.List(ctx, containers.Filter{InstanceID: e.instance})
	require.NoError(t, err)
	require.Empty(t, left)
	t.Logf("Reap of %d running stale containers (concurrency %d): %v (%v per container)",
		n, e.rt.Config().ReapConcurrency, took, took/n)
}

// percentile returns the index of the p-th percentile in n sorted samples
// (nearest rank).
func percentile(n, p int) int {
	i := (p*n+99)/100 - 1
	return max(0, min(i, n-1))
}
