package runs_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// TestMetricsCountRunsQueueAndContainers works runs with metrics on and
// reads what they counted: final statuses, time worked, queue wait and
// depth, container starts.
func TestMetricsCountRunsQueueAndContainers(t *testing.T) {
	h := start(t, apptest.WithMetrics(), func(s *settings.Settings) { s.Runs.MaxConcurrent = 1 })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})

	ok := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	require.Equal(t, "succeeded", h.wait(t, u, ok.ID, terminal).Status)
	bad := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: exit 3"})
	require.Equal(t, "failed", h.wait(t, u, bad.ID, terminal).Status)

	// One slot: a long run holds it, so the next waits in the queue.
	long := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	h.wait(t, u, long.ID, is("running"))
	waiting := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	f := h.Scrape()
	queued, _ := f.Value("slipway_runs_queued", nil)
	require.Equal(t, 1.0, queued)
	age, _ := f.Value("slipway_runs_queued_oldest_age_seconds", nil)
	require.Positive(t, age)

	for _, r := range []apptest.Run{waiting, long} {
		require.Equal(t, http.StatusAccepted, h.Post("/v1/runs/"+r.ID+"/cancel", u.Token, nil).Status)
		require.Equal(t, "canceled", h.wait(t, u, r.ID, terminal).Status)
	}

	value := func(f apptest.Families, name string, labels map[string]string) float64 {
		v, _ := f.Value(name, labels)
		return v
	}
	require.Eventually(t, func() bool {
		f = h.Scrape()
		return value(f, "slipway_runs_finished_total", map[string]string{"status": "canceled"}) == 2
	}, 10*time.Second, 20*time.Millisecond, "both cancels are counted")
	for status, want := range map[string]float64{"succeeded": 1, "failed": 1, "canceled": 2} {
		require.Equal(t, want, value(f, "slipway_runs_finished_total", map[string]string{"status": status}), status)
	}
	for status, want := range map[string]float64{"succeeded": 1, "failed": 1, "canceled": 1} {
		require.Equal(t, want, value(f, "slipway_run_duration_seconds", map[string]string{"status": status}),
			"%s: runs worked here are timed; the run canceled while queued is not", status)
	}
	require.Equal(t, 3.0, value(f, "slipway_run_queue_wait_seconds", nil), "three runs were claimed")
	require.Equal(t, 3.0, value(f, "slipway_container_starts_total", nil))
	require.Zero(t, value(f, "slipway_runs_queued", nil))
}
