package runs_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/apierror"
	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/settings"
)

// agentScript is the test agent: it prints start, then either runs the
// prompt as a script (a prompt starting "sh: ") or appends the prompt to
// README.md, and prints done.
const agentScript = `echo start; case "$SLIPWAY_PROMPT" in "sh: "*) eval "${SLIPWAY_PROMPT#sh: }" ;; *) echo "$SLIPWAY_PROMPT" >> README.md ;; esac; echo done`

// fakeRepos stands in for the repositories module: repositories owned by
// their creator, visible to operators, writable by owner and root.
type fakeRepos struct {
	mu    sync.Mutex
	repos map[string]access.Repository
}

func (f *fakeRepos) add(owner, url string) access.Repository {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := access.Repository{ID: ids.New(ids.Repository), ProjectID: ids.New(ids.Project), OwnerID: owner, URL: url, DefaultBranch: "main"}
	f.repos[r.ID] = r
	return r
}

func (f *fakeRepos) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.repos, id)
}

func (f *fakeRepos) VisibleRepository(_ context.Context, caller auth.Principal, id string) (access.Repository, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.repos[id]
	if !ok || (r.OwnerID != caller.ID && !caller.IsOperator()) {
		return access.Repository{}, apierror.NotFound("repository", id)
	}
	return r, nil
}

func (f *fakeRepos) WritableRepository(ctx context.Context, caller auth.Principal, id string) (access.Repository, error) {
	r, err := f.VisibleRepository(ctx, caller, id)
	if err != nil {
		return r, err
	}
	if r.OwnerID != caller.ID && !caller.Has(auth.GroupRoot) {
		return access.Repository{}, apierror.Forbidden(auth.GroupRoot)
	}
	return r, nil
}

// harness is the whole app with runs on the local Docker engine.
type harness struct {
	*apptest.App
	rt     *containers.Runtime
	image  string
	repos  *fakeRepos
	svc    *runs.Service
	worker *runs.Worker
}

// fast are intervals short enough for tests.
func fast(t runs.Tuning) runs.Tuning {
	t.Heartbeat = 200 * time.Millisecond
	t.OrphanSweep = 200 * time.Millisecond
	t.KeepAlive = 200 * time.Millisecond
	t.Poll = 50 * time.Millisecond
	t.DockerCheckTTL = 100 * time.Millisecond
	return t
}

// runModules are the modules runs needs beyond app.Options.
func runModules(repos *fakeRepos) fx.Option {
	return fx.Options(
		containers.Module, queue.Module, runs.Module,
		fx.Provide(func() access.Repositories { return repos }),
	)
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
	h := &harness{rt: rt, image: image, repos: &fakeRepos{repos: map[string]access.Repository{}}}
	h.App = apptest.StartWith(t, s, runModules(h.repos), fx.Decorate(fast), fx.Populate(&h.svc, &h.worker))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = containertest.RemoveInstance(ctx, rt, h.worker.InstanceID())
	})
	return h
}

// repo registers a repository of files owned by user.
func (h *harness) repo(t *testing.T, user apptest.User, files map[string]string) access.Repository {
	t.Helper()
	return h.repos.add(user.ID, apptest.GitRepo(t, files))
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

func terminal(s string) bool { return apptest.Terminal(s) }

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

// containersOf lists the managed containers of a run.
func (h *harness) containersOf(t *testing.T, runID string) []containers.Container {
	t.Helper()
	list, err := h.rt.List(context.Background(), containers.Filter{RunID: runID})
	require.NoError(t, err)
	return list
}
