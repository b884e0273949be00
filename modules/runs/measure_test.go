package runs_test

import (
	"context"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/ids"
)

// TestMeasureStartLatency reports the time from POST to the container's
// start (started_at - created_at) over 20 runs made one after another.
func TestMeasureStartLatency(t *testing.T) {
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		// Dozens of containers at once: kept out of CI runs, where they only
		// load the shared Docker daemon. `go tool task measure` runs them.
		t.Skip("measurement: set SLIPWAY_MEASURE=1")
	}
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	var lat []time.Duration
	for range 20 {
		r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
		done := h.wait(t, u, r.ID, terminal)
		require.Equal(t, "succeeded", done.Status)
		lat = append(lat, done.StartedAt.Sub(done.CreatedAt))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)-1]
	t.Logf("POST to container start over %d runs: p50 %s, p99 %s, min %s", len(lat), p50, p99, lat[0])
	require.Less(t, p99, 30*time.Second)
}

// TestMeasureStartCleanup reports the cost of the start-up clean-up pass
// with 50 stale labelled containers of a dead instance.
func TestMeasureStartCleanup(t *testing.T) {
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		// Dozens of containers at once: kept out of CI runs, where they only
		// load the shared Docker daemon. `go tool task measure` runs them.
		t.Skip("measurement: set SLIPWAY_MEASURE=1")
	}
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript))
	h := startWith(t, s, rt, image)
	h.Stop()

	dead := ids.New(runs.InstanceIDPrefix)
	host, _ := os.Hostname()
	now := time.Now().UTC()
	forge(t, s.Storage.DataDir, []runs.Instance{{ID: dead, Hostname: host,
		BootID: strings.TrimSpace(readFile(t, "/proc/sys/kernel/random/boot_id")), PID: 1 << 30, StartedAt: now, HeartbeatAt: now}}, nil)
	const n = 50
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sleeper(t, rt, image, ids.New(runs.IDPrefix), dead)
		}()
	}
	wg.Wait()
	list, err := rt.List(context.Background(), containers.Filter{InstanceID: dead})
	require.NoError(t, err)
	require.Len(t, list, n)

	began := time.Now()
	h2 := startWith(t, s, rt, image)
	startTook := time.Since(began)
	list, err = rt.List(context.Background(), containers.Filter{InstanceID: dead})
	require.NoError(t, err)
	require.Empty(t, list)
	entries := h2.Logs().FilterMessage("start-up clean-up done").All()
	require.Len(t, entries, 1)
	ctx := entries[0].ContextMap()
	require.EqualValues(t, n, ctx["containers_removed"])
	t.Logf("start-up clean-up of %d stale containers: pass %v, whole app start %s", n, ctx["took"], startTook)
}
