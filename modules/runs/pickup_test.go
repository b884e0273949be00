package runs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// TestRunQueuedByAnotherInstanceIsPickedUp runs two instances on one
// PostgreSQL database (the postgres queue, the default there). The first is
// busy (one run at a time, a long run going), so it claims nothing more; a
// run it accepts next wakes the second through NOTIFY, which claims it from
// the runs table and runs it: what lets `slipway worker` processes serve
// runs accepted by API instances.
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
	// The records say which instance claimed the run (the same id labels
	// its container): the idle one, not the busy one that accepted it.
	rec, err := idle.svc.Get(context.Background(), identity.Principal{ID: "test", Groups: []string{identity.GroupRoot}}, second.ID)
	require.NoError(t, err)
	require.Equal(t, idle.worker.InstanceID(), rec.InstanceID, "the idle instance ran the run")
	require.NotEqual(t, busy.worker.InstanceID(), rec.InstanceID)
	require.Len(t, busy.containersOf(t, long.ID), 1, "the busy instance is still on its long run")
	require.Equal(t, "running", busy.GetRun(u.Token, long.ID).Status)
	require.Less(t, time.Since(*done.FinishedAt), time.Minute)
}

// TestAPIOnlyInstanceLeavesRunsToWorkers runs an API-only instance
// (runs.execute false, no Docker at all) beside a worker instance on one
// database and one S3 bucket, as in production: the API instance accepts the
// run with 202, the worker runs it, and the API instance serves its patch.
func TestAPIOnlyInstanceLeavesRunsToWorkers(t *testing.T) {
	rt, image := apptest.RunImage(t)
	dsn := pgtest.NewDB(t)
	objects, _ := apptest.S3(t)
	shared := func(s *settings.Settings) { s.Auth.TokenSecret = "shared-secret-of-two-instances-32b!" }
	worker := startWith(t, apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript),
		apptest.PostgresAt(dsn), objects, shared), rt, image)
	api := apptest.Start(t, apptest.PostgresAt(dsn), objects, shared, func(s *settings.Settings) {
		s.Runs.Execute = false
		s.Runs.AllowFileURLs = true
		s.Docker.Host = "unix:///nonexistent/docker.sock"
	})
	u := api.SignUp()
	repo := worker.repo(t, u, map[string]string{"a.txt": "a\n"})
	res := api.Post("/v1/repositories/"+repo.ID+"/runs", u.Token, map[string]any{"prompt": "from the api"})
	require.Equal(t, http.StatusAccepted, res.Status, "no Docker needed to accept: %s", res.Body)
	id := res.JSON(t)["id"].(string)
	done := worker.wait(t, u, id, terminal)
	require.Equal(t, "succeeded", done.Status)
	require.Contains(t, string(api.Get("/v1/runs/"+id+"/patch", u.Token).Body), "+from the api")
}
