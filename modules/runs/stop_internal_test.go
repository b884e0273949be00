package runs

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// The stop tests work one run through Worker.work against a Docker that
// fails on cue: no Docker is needed. The agent is the fake's Wait, which
// changes the workspace, blocks until the run is canceled, and then, like an
// agent whose container is never stopped, would go on writing.

// events is the order of what the fake Docker and the object store were
// asked to do.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// stubbornDocker is a container runtime whose stop, kill, inspect and
// remove answer what a test says.
type stubbornDocker struct {
	containers.Engine // nil: any other call panics

	ev        *events
	waiting   chan struct{} // closed when the agent runs
	stopErr   error
	killErr   error
	running   bool  // what inspect says after the stop
	inspErr   error // inspect's failure
	removeErr []error
}

func (d *stubbornDocker) StartAttached(_ context.Context, spec containers.Spec) (string, io.ReadCloser, error) {
	d.ev.add("start")
	// The agent changes a file before the run is stopped.
	if err := os.WriteFile(filepath.Join(spec.Workspace, "a.txt"), []byte("changed\n"), 0o644); err != nil {
		return "", nil, err
	}
	return "cid", io.NopCloser(strings.NewReader("")), nil
}

func (d *stubbornDocker) Wait(ctx context.Context, _ string) (containers.Exit, error) {
	close(d.waiting)
	<-ctx.Done()
	return containers.Exit{}, ctx.Err()
}

func (d *stubbornDocker) Stop(context.Context, string, time.Duration) error {
	d.ev.add("stop")
	return d.stopErr
}

func (d *stubbornDocker) Kill(context.Context, string) error {
	d.ev.add("kill")
	return d.killErr
}

func (d *stubbornDocker) Running(context.Context, string) (bool, error) {
	d.ev.add("inspect")
	return d.running, d.inspErr
}

func (d *stubbornDocker) Remove(context.Context, string) error {
	d.ev.add("remove")
	if len(d.removeErr) == 0 {
		return nil
	}
	err := d.removeErr[0]
	d.removeErr = d.removeErr[1:]
	return err
}

// watchedObjects records when a patch is stored.
type watchedObjects struct {
	objects.Store
	ev *events
}

func (o *watchedObjects) Put(ctx context.Context, key string, body io.Reader) error {
	o.ev.add("put " + key[strings.LastIndex(key, "/")+1:])
	return o.Store.Put(ctx, key, body)
}

// oneRepository is the repository of the run.
type oneRepository struct{ url, projectID string }

func (r oneRepository) VisibleRepository(_ context.Context, _ identity.Principal, id string) (access.Repository, error) {
	return access.Repository{ID: id, ProjectID: r.projectID, URL: r.url, DefaultBranch: "main"}, nil
}

func (r oneRepository) WritableRepository(ctx context.Context, p identity.Principal, id string) (access.Repository, error) {
	return r.VisibleRepository(ctx, p, id)
}

func (oneRepository) CheckURL(context.Context, string) (access.URLCheck, error) {
	return access.URLCheck{}, nil
}

// parentDoc stands in for the projects and repositories the runs refer to.
type parentDoc struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id,omitempty"`
}

// testStore is a JSON store holding one project and one repository.
func testStore(t *testing.T) (_ Store, projectID, repoID string) {
	t.Helper()
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	id := func(d *parentDoc) string { return d.ID }
	projects, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{Name: projectsCollection, ID: id})
	require.NoError(t, err)
	repos, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{Name: repositoriesCollection, ID: id})
	require.NoError(t, err)
	store, err := newJSONStore(db)
	require.NoError(t, err)
	projectID, repoID = ids.New("prj"), ids.New("rep")
	require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error {
		if err := projects.Insert(tx, &parentDoc{ID: projectID}); err != nil {
			return err
		}
		return repos.Insert(tx, &parentDoc{ID: repoID, ProjectID: projectID})
	}))
	return store, projectID, repoID
}

// sourceRepo is a git repository with a.txt on main; it returns its URL.
func sourceRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "a.txt"}, {"commit", "-q", "-m", "a"}} {
		if args[0] == "add" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644))
		}
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	return "file://" + dir
}

// stopFixture works one run against docker and returns how it ended,
// what was asked in which order, and the stored patch ("" when none).
func stopFixture(t *testing.T, docker *stubbornDocker) (outcome, []string, string) {
	t.Helper()
	ev := &events{}
	docker.ev, docker.waiting = ev, make(chan struct{})
	store, projectID, repoID := testStore(t)
	local, err := objects.NewLocal(t.TempDir())
	require.NoError(t, err)
	wsm, err := workspace.NewManager(workspace.Config{Root: t.TempDir(), AllowFile: true, OwnerUID: 65534, OwnerGID: 65534})
	require.NoError(t, err)
	tuning := DefaultTuning()
	tuning.RemoveBackoff = 0
	w := &Worker{store: store, engine: docker, wsm: wsm, objects: &watchedObjects{Store: local, ev: ev},
		repos: oneRepository{url: sourceRepo(t)}, secrets: noSecrets{}, cfg: settings.Runs{StopGrace: time.Second, MaxPatchBytes: 1 << 20},
		tuning: tuning, log: zap.NewNop(), hub: newLogHub(), self: Instance{ID: "ins_test"}, active: map[string]*activeRun{}}
	run := &Run{ID: "run_stop", ProjectID: projectID, RepositoryID: repoID, OwnerID: "usr_1", Status: StatusPreparing, Prompt: "p",
		Branch: "main", TimeoutSeconds: 600, CreatedAt: nowUTC()}
	_, err = store.Create(context.Background(), run, 5)
	require.NoError(t, err)

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-docker.waiting
		cancel(errCanceled)
	}()
	out := w.work(ctx, run)

	rc, err := local.Get(context.Background(), patchKey(run.ID))
	if errors.Is(err, derrors.ErrNotFound) {
		return out, ev.get(), ""
	}
	require.NoError(t, err)
	defer rc.Close()
	patch, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NotEmpty(t, patch, "a stored patch holds the agent's change")
	return out, ev.get(), string(patch)
}

// TestPatchOnlyAfterTheContainerIsConfirmedStopped cancels a running run
// while Docker fails in each way a stop can fail. The patch is read only
// once the daemon has said the container no longer runs; otherwise the run
// fails without one and its container is removed, retried, and a removal
// that never succeeds is recorded on the run.
func TestPatchOnlyAfterTheContainerIsConfirmedStopped(t *testing.T) {
	broken := errors.New("daemon broken")
	const notStopped = "the agent's container could not be stopped, so the run keeps no patch"
	const notRemoved = "; its container could not be removed and waits for an operator's clean-up"
	tests := []struct {
		name    string
		docker  stubbornDocker
		status  Status
		message string
		events  []string
	}{
		{"stopped", stubbornDocker{},
			StatusCanceled, msgCanceled, []string{"start", "stop", "inspect", "put patch", "remove"}},
		{"stop fails, kill works", stubbornDocker{stopErr: broken},
			StatusCanceled, msgCanceled, []string{"start", "stop", "kill", "inspect", "put patch", "remove"}},
		{"gone already", stubbornDocker{stopErr: derrors.NotFound("container", "cid")},
			StatusCanceled, msgCanceled, []string{"start", "stop", "put patch", "remove"}},
		{"stop and kill fail", stubbornDocker{stopErr: broken, killErr: broken, removeErr: []error{broken, broken, broken}},
			StatusFailed, notStopped + notRemoved, []string{"start", "stop", "kill", "remove", "remove", "remove"}},
		{"still running after stop", stubbornDocker{running: true, removeErr: []error{broken}},
			StatusFailed, notStopped, []string{"start", "stop", "inspect", "remove", "remove"}},
		{"inspect fails", stubbornDocker{inspErr: broken},
			StatusFailed, notStopped, []string{"start", "stop", "inspect", "remove"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, patch := stopFixture(t, &tt.docker)
			require.Equal(t, tt.status, out.status)
			require.Equal(t, tt.message, out.message)
			require.Equal(t, tt.events, got)
			if tt.status == StatusFailed {
				require.Empty(t, patch, "no patch from a container that may still write")
			} else {
				require.Contains(t, patch, "+changed")
			}
		})
	}
}
