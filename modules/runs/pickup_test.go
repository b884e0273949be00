package runs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// TestRunQueuedByAnotherInstanceIsPickedUp runs two instances on one
// PostgreSQL database. The first is busy (one run at a time, a long run
// going); a run it accepts next is only in the records store as far as the
// second is concerned, which never got it on its in-process queue. The
// second's heartbeat finds it queued and runs it: what lets `slipway worker`
// processes serve runs accepted by API instances.
func TestRunQueuedByAnotherInstanceIsPickedUp(t *testing.T) {
	rt, image := apptest.RunImage(t)
	dsn := pgtest.NewDB(t)
	common := []apptest.Option{
		apptest.WithRuns(image, "sh", "-c", agentScript), apptest.PostgresAt(dsn),
		func(s *settings.Settings) {
			s.Runs.MaxConcurrent = 1
			s.Auth.TokenSecret = "shared-secret-of-two-instances-32b!"
		},
	}
	busy := startWith(t, apptest.Settings(t, common...), rt, image)
	u := busy.SignUp()
	repo := busy.repo(t, u, map[string]string{"a.txt": "a\n"})
	long := busy.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 30"})
	busy.wait(t, u, long.ID, is("running"))

	idle := startWith(t, apptest.Settings(t, common...), rt, image)
	second := busy.create(t, u, repo.ID, map[string]any{"prompt": "picked up elsewhere"})
	done := idle.wait(t, u, second.ID, terminal)
	require.Equal(t, "succeeded", done.Status)
	require.Len(t, busy.containersOf(t, long.ID), 1, "the busy instance is still on its long run")
	require.Equal(t, "running", busy.GetRun(u.Token, long.ID).Status)
	require.Less(t, time.Since(*done.FinishedAt), time.Minute)
}
