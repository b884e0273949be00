package runs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// agentScript is the test agent: it prints start, then either runs the
// prompt as a script (a prompt starting "sh: ") or appends the prompt to
// README.md, and prints done.
const agentScript = `echo start; case "$SLIPWAY_PROMPT" in "sh: "*) eval "${SLIPWAY_PROMPT#sh: }" ;; *) echo "$SLIPWAY_PROMPT" >> README.md ;; esac; echo done`

// harness is the whole app with runs on the local Docker engine.
type harness struct {
	*apptest.App
	rt     *containers.Runtime
	image  string
	svc    *runs.Service
	worker *runs.Worker
}

// fast are intervals short enough for tests.
func fast(t *runs.Tuning) {
	t.Heartbeat = 200 * time.Millisecond
	t.OrphanSweep = 200 * time.Millisecond
	t.KeepAlive = 200 * time.Millisecond
	t.Poll = 50 * time.Millisecond
	t.DockerCheckTTL = 100 * time.Millisecond
	t.QueueResweep = time.Second
}

// runModules shortens the intervals and hands out the service and worker.
func runModules(svc **runs.Service, w **runs.Worker) fx.Option {
	return fx.Options(fx.Supply(runs.TuningOverride(fast)), fx.Populate(svc, w))
}

// start boots the app with the test agent; opts change the settings.
func start(t *testing.T, opts ...apptest.Option) *harness {
	t.Helper()
	rt, image := apptest.RunImage(t)
	opts = append([]apptest.Option{apptest.WithRuns(image, "sh", "-c", agentScript)}, opts...)
	return startWith(t, apptest.Settings(t, opts...), rt, image)
}

func startWith(t *testing.T, s *settings.Settings, rt *containers.Runtime, image string) *harness {
	t.Helper()
	return startTuned(t, s, rt, image, nil)
}

// startTuned is startWith with tune applied after fast, and extra options
// (decorations of the app's dependencies).
func startTuned(t *testing.T, s *settings.Settings, rt *containers.Runtime, image string, tune func(*runs.Tuning), extra ...fx.Option) *harness {
	t.Helper()
	h := &harness{rt: rt, image: image}
	modules := runModules(&h.svc, &h.worker)
	if tune != nil {
		modules = fx.Options(fx.Supply(runs.TuningOverride(func(t *runs.Tuning) { fast(t); tune(t) })), fx.Populate(&h.svc, &h.worker))
	}
	h.App = apptest.StartWith(t, s, append([]fx.Option{modules}, extra...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = containertest.RemoveInstance(ctx, rt, h.worker.InstanceID())
	})
	return h
}

// repository is what tests need of a registered repository.
type repository struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
}

// repo registers, through the API, a project and a repository of files
// (a local git repository) owned by user.
func (h *harness) repo(t *testing.T, user apptest.User, files map[string]string) repository {
	t.Helper()
	res := h.Post("/v1/projects", user.Token, map[string]any{"name": "p"})
	require.Equal(t, http.StatusCreated, res.Status, "create project: %s", res.Body)
	projectID := res.JSON(t)["id"].(string)
	res = h.Post("/v1/projects/"+projectID+"/repositories", user.Token, map[string]any{"url": apptest.GitRepo(t, files)})
	require.Equal(t, http.StatusCreated, res.Status, "create repository: %s", res.Body)
	var r repository
	res.Decode(t, &r)
	return r
}

// create queues a run and requires 202.
func (h *harness) create(t *testing.T, user apptest.User, repoID string, body map[string]any) apptest.Run {
	t.Helper()
	res := h.Post("/v1/repositories/"+repoID+"/runs", user.Token, body)
	require.Equal(t, http.StatusAccepted, res.Status, "create run: %s", res.Body)
	var r apptest.Run
	res.Decode(t, &r)
	return r
}

func (h *harness) wait(t *testing.T, user apptest.User, id string, done func(string) bool) apptest.Run {
	t.Helper()
	return h.WaitRun(user.Token, id, 90*time.Second, done)
}

// putSecret sets a secret of the user's project through the API.
func (h *harness) putSecret(t *testing.T, u apptest.User, projectID, name, value string) {
	t.Helper()
	res := h.Do(apptest.Request{Method: http.MethodPut, Path: "/v1/projects/" + projectID + "/secrets/" + name,
		Token: u.Token, Body: map[string]any{"value": value}})
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
}

func terminal(s string) bool { return apptest.Terminal(s) }

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

// containersOf lists the managed containers of a run.
func (h *harness) containersOf(t *testing.T, runID string) []containers.Container {
	t.Helper()
	list, err := h.rt.List(context.Background(), containers.Filter{RunID: runID})
	require.NoError(t, err)
	return list
}
