package runs_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockercontainer "github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

func TestStopInterruptsActiveRunsAndKeepsQueued(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript),
		func(s *settings.Settings) { s.Runs.MaxConcurrent = 1 })
	h := startWith(t, s, rt, image)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	active := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	queued := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: echo later"})
	h.wait(t, u, active.ID, is("running"))
	require.Len(t, h.containersOf(t, active.ID), 1)

	began := time.Now()
	h.Stop()
	require.Less(t, time.Since(began), 15*time.Second)
	require.Empty(t, h.containersOf(t, active.ID), "stop removes the containers it started")
	entries, err := os.ReadDir(filepath.Join(s.Storage.DataDir, "workspaces"))
	require.NoError(t, err)
	require.Empty(t, entries, "stop removes the workspaces")

	h2 := startWith(t, s, rt, image)
	got := h2.GetRun(u.Token, active.ID)
	require.Equal(t, "interrupted", got.Status)
	require.Equal(t, "the server stopped while the run was active", *got.Error)
	require.NotNil(t, got.FinishedAt)
	// The queued run waited for the next start and runs now.
	require.Equal(t, "succeeded", h2.wait(t, u, queued.ID, terminal).Status)
}

// forge writes records into a stopped app's JSON store, as a crashed
// instance would have left them.
func forge(t *testing.T, dataDir string, instances []runs.Instance, rs []runs.Run) {
	t.Helper()
	db, err := jsonstore.Open(filepath.Join(dataDir, "records"), jsonstore.Options{Logger: zap.NewNop()})
	require.NoError(t, err)
	defer db.Close()
	ic, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[runs.Instance]{Name: "run_instances", ID: func(i *runs.Instance) string { return i.ID }})
	require.NoError(t, err)
	rc, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[runs.Run]{Name: "runs", ID: func(r *runs.Run) string { return r.ID }})
	require.NoError(t, err)
	require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error {
		for i := range instances {
			if err := ic.Put(tx, &instances[i]); err != nil {
				return err
			}
		}
		for i := range rs {
			if err := rc.Put(tx, &rs[i]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// sleeper starts a managed container that sleeps, labelled with run and
// instance; its removal is the test's cleanup.
func sleeper(t *testing.T, rt *containers.Runtime, image, runID, instance string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := rt.Start(ctx, containers.Spec{Image: image, Cmd: []string{"sleep", "300"},
		Workspace: containertest.Workspace(t), RunID: runID, InstanceID: instance})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
	return id
}

// exited starts a managed container that exits at once, labelled with run
// and instance, and waits for its exit; its removal is the test's cleanup.
func exited(t *testing.T, rt *containers.Runtime, image, runID, instance string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := rt.Start(ctx, containers.Spec{Image: image, Cmd: []string{"true"},
		Workspace: containertest.Workspace(t), RunID: runID, InstanceID: instance})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
	_, err = rt.Wait(ctx, id)
	require.NoError(t, err)
	return id
}

func exists(t *testing.T, rt *containers.Runtime, id string) bool {
	t.Helper()
	_, err := rt.Client().ContainerInspect(context.Background(), id)
	return err == nil
}

func TestStartReapsOnlyDeadInstances(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript))
	h := startWith(t, s, rt, image)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	done := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	h.wait(t, u, done.ID, terminal)
	h.Stop()

	suffix := fmt.Sprint(time.Now().UnixNano())
	dead, live, foreign := "ins_dead"+suffix, "ins_live"+suffix, "ins_foreign"+suffix
	host, _ := os.Hostname()
	now := time.Now().UTC()
	stale := runs.Run{ID: ids.New(runs.IDPrefix), ProjectID: repo.ProjectID, RepositoryID: repo.ID, OwnerID: u.ID,
		Status: runs.StatusRunning, Prompt: "p", TimeoutSeconds: 60, InstanceID: dead, CreatedAt: now}
	preparing := stale
	preparing.ID, preparing.Status = ids.New(runs.IDPrefix), runs.StatusPreparing
	busy := stale
	busy.ID, busy.InstanceID = ids.New(runs.IDPrefix), live
	forge(t, s.Storage.DataDir, []runs.Instance{
		// A process of this machine that is gone (pid far beyond pid_max's default).
		{ID: dead, Hostname: host, BootID: strings.TrimSpace(readFile(t, "/proc/sys/kernel/random/boot_id")), PID: 1 << 30, StartedAt: now, HeartbeatAt: now},
		// Another machine's instance with a fresh heartbeat.
		{ID: live, Hostname: "elsewhere", BootID: "other", PID: 1, StartedAt: now, HeartbeatAt: now.Add(time.Hour)},
	}, []runs.Run{stale, preparing, busy})

	deadC := sleeper(t, rt, image, stale.ID, dead)
	liveC := sleeper(t, rt, image, busy.ID, live)
	foreignC := sleeper(t, rt, image, "run_other_deployment", foreign)
	ctx := context.Background()
	plain, err := rt.Client().ContainerCreate(ctx, &dockercontainer.Config{Image: image, Cmd: []string{"sleep", "300"}},
		&dockercontainer.HostConfig{NetworkMode: "none"}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = rt.Client().ContainerRemove(context.Background(), plain.ID, dockercontainer.RemoveOptions{Force: true})
	})

	h2 := startWith(t, s, rt, image)
	require.False(t, exists(t, rt, deadC), "the dead instance's container is removed at start")
	require.True(t, exists(t, rt, liveC), "a live instance's container stays")
	require.True(t, exists(t, rt, foreignC), "an unknown instance's container stays")
	require.True(t, exists(t, rt, plain.ID), "an unlabelled container stays")
	for _, id := range []string{stale.ID, preparing.ID} {
		got := h2.GetRun(u.Token, id)
		require.Equal(t, "interrupted", got.Status, id)
		require.Equal(t, "the server stopped while the run was active", *got.Error)
	}
	require.Equal(t, "running", h2.GetRun(u.Token, busy.ID).Status)

	// Operator routes: the list shows managed containers; clean-up removes
	// those without an active run but leaves a foreign running one.
	op := h2.CreateUser("operator")
	res := h2.Get("/v1/admin/containers", op.Token)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Contains(t, string(res.Body), liveC)
	require.Contains(t, string(res.Body), `"run_id":"`+busy.ID+`"`)
	require.NotContains(t, string(res.Body), plain.ID)
	require.Equal(t, http.StatusForbidden, h2.Get("/v1/admin/containers", u.Token).Status)
	require.Equal(t, http.StatusForbidden, h2.Post("/v1/admin/containers/cleanup", u.Token, nil).Status)

	// Clean-up removes only what no instance may still need: containers of
	// terminal runs. A stopped container of a run still running (its owner
	// may not have read its log yet) stays, as does a stopped container of
	// another deployment (or of a test in another package).
	orphan := sleeper(t, rt, image, done.ID, h2.worker.InstanceID())       // its run has finished
	stoppedOrphan := exited(t, rt, image, done.ID, h2.worker.InstanceID()) // likewise, stopped
	unread := exited(t, rt, image, busy.ID, live)                          // its run is still running
	foreignStopped := exited(t, rt, image, "run_other_deployment", foreign)
	res = h2.Post("/v1/admin/containers/cleanup", op.Token, nil)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, float64(2), res.JSON(t)["removed"])
	require.False(t, exists(t, rt, orphan), "a terminal run's running container is removed")
	require.False(t, exists(t, rt, stoppedOrphan), "a terminal run's stopped container is removed")
	require.True(t, exists(t, rt, unread), "a stopped container of a non-terminal run stays")
	require.True(t, exists(t, rt, liveC), "the live run's container stays")
	require.True(t, exists(t, rt, foreignC), "a running container of another deployment stays")
	require.True(t, exists(t, rt, foreignStopped), "a stopped container of another deployment stays")
	require.True(t, exists(t, rt, plain.ID))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestWithoutDocker(t *testing.T) {
	h := &harness{}
	s := apptest.Settings(t, apptest.WithoutDocker(t))
	h.App = apptest.StartWith(t, s, runModules(&h.svc, &h.worker))
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})

	began := time.Now()
	res := h.Post("/v1/repositories/"+repo.ID+"/runs", u.Token, map[string]any{"prompt": "p"})
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	require.Equal(t, "service_unavailable", res.ErrorCode(t))
	e := res.JSON(t)["error"].(map[string]any)
	require.Equal(t, "docker", e["details"].(map[string]any)["service"])
	require.Equal(t, true, e["retryable"])
	require.Less(t, time.Since(began), 5*time.Second)

	res = h.Get("/readyz", "")
	require.Equal(t, http.StatusOK, res.Status, "docker is an optional check: %s", res.Body)
	checks := res.JSON(t)["checks"].(map[string]any)
	require.NotEqual(t, "ok", checks["docker"])
	require.Equal(t, "ok", checks["records"])

	op := h.CreateUser("operator")
	res = h.Get("/v1/admin/containers", op.Token)
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	list := h.Get("/v1/runs", u.Token)
	require.Equal(t, http.StatusOK, list.Status)
}
