package runs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

// fakeHost is a Docker host in memory for the clean-up rule: Reap lists
// its containers (running onList first, as if those changed just then)
// and removes those keep refuses. The rest of containers.Engine is unused.
type fakeHost struct {
	containers.Engine // nil: anything else the service calls panics
	list              []containers.Container
	onList            func()
}

func (f *fakeHost) Reap(_ context.Context, keep func(containers.Container) bool) ([]containers.Container, error) {
	if f.onList != nil {
		f.onList()
	}
	var removed []containers.Container
	for _, c := range slices.Clone(f.list) {
		if !keep(c) {
			removed = append(removed, c)
			f.list = slices.DeleteFunc(f.list, func(k containers.Container) bool { return k.ID == c.ID })
		}
	}
	return removed, nil
}

func (f *fakeHost) has(id string) bool {
	return slices.ContainsFunc(f.list, func(c containers.Container) bool { return c.ID == id })
}

// cleanupFixture is a records store with one live instance, a service over
// it and a fake Docker host.
type cleanupFixture struct {
	store    runs.Store
	svc      *runs.Service
	host     *fakeHost
	instance string
	// parent adds a project and a repository for a run to belong to: the
	// store refuses a run of a missing repository.
	parent func(t *testing.T) (projectID, repositoryID string)
}

func newCleanupFixture(t *testing.T) *cleanupFixture {
	t.Helper()
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	projects, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{
		Name: "projects", ID: func(d *parentDoc) string { return d.ID }})
	require.NoError(t, err)
	repos, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{
		Name: "repositories", ID: func(d *parentDoc) string { return d.ID }})
	require.NoError(t, err)
	store, err := runs.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	f := &cleanupFixture{store: store, host: &fakeHost{}, instance: ids.New("ins")}
	f.parent = func(t *testing.T) (string, string) {
		project, repo := ids.New("prj"), ids.New("rep")
		require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error {
			if err := projects.Insert(tx, &parentDoc{ID: project}); err != nil {
				return err
			}
			return repos.Insert(tx, &parentDoc{ID: repo, ProjectID: project})
		}))
		return project, repo
	}
	now := time.Now().UTC()
	require.NoError(t, store.PutInstance(context.Background(),
		&runs.Instance{ID: f.instance, Hostname: "elsewhere", PID: 1, StartedAt: now, HeartbeatAt: now}))
	f.svc = runs.NewService(runs.ServiceParams{Store: store, Engine: f.host, Settings: &settings.Settings{},
		Tuning: runs.DefaultTuning(), Log: zap.NewNop()})
	return f
}

// run records a run of the fixture's instance in status.
func (f *cleanupFixture) run(t *testing.T, status runs.Status) string {
	t.Helper()
	ctx := context.Background()
	project, repo := f.parent(t)
	r := &runs.Run{ID: ids.New(runs.IDPrefix), ProjectID: project, RepositoryID: repo,
		OwnerID: "usr_cleanup", Status: runs.StatusQueued, Prompt: "p", TimeoutSeconds: 60, CreatedAt: time.Now().UTC()}
	_, err := f.store.Create(ctx, r, 1000)
	require.NoError(t, err)
	_, err = f.store.Update(ctx, r.ID, func(r *runs.Run) error {
		r.Status, r.InstanceID = status, f.instance
		return nil
	})
	require.NoError(t, err)
	return r.ID
}

// container puts a managed container of run and instance on the host.
func (f *cleanupFixture) container(runID, instance, state string) string {
	id := ids.New("ctr")
	f.host.list = append(f.host.list, containers.Container{ID: id, RunID: runID, InstanceID: instance, State: state})
	return id
}

// TestCleanupRemovesOnlyWhatNoInstanceNeeds checks each case of the
// clean-up rule: only containers of terminal runs, and of deleted runs of
// this deployment's instances, go.
func TestCleanupRemovesOnlyWhatNoInstanceNeeds(t *testing.T) {
	f := newCleanupFixture(t)
	ctx := context.Background()
	deleted := f.run(t, runs.StatusRunning)
	// The run is deleted with its repository: its record is gone.
	_, err := f.store.DeleteRepositoryRuns(ctx, mustGet(t, f.store, deleted).RepositoryID)
	require.NoError(t, err)

	tests := []struct {
		name    string
		id      string
		removed bool
	}{
		{"stopped, its run succeeded", f.container(f.run(t, runs.StatusSucceeded), f.instance, "exited"), true},
		{"running, its run was interrupted", f.container(f.run(t, runs.StatusInterrupted), f.instance, "running"), true},
		{"stopped, its run is still running (log unread)", f.container(f.run(t, runs.StatusRunning), f.instance, "exited"), false},
		{"stopped, its run is preparing", f.container(f.run(t, runs.StatusPreparing), f.instance, "exited"), false},
		{"running, its run is running", f.container(f.run(t, runs.StatusRunning), f.instance, "running"), false},
		{"stopped, its run was deleted", f.container(deleted, f.instance, "exited"), true},
		{"stopped, run and instance unknown (another deployment)", f.container("run_elsewhere", "ins_elsewhere", "exited"), false},
		{"running, run and instance unknown", f.container("run_elsewhere2", "ins_elsewhere", "running"), false},
	}
	n, err := f.svc.Cleanup(ctx)
	require.NoError(t, err)
	want := 0
	for _, tt := range tests {
		require.Equal(t, !tt.removed, f.host.has(tt.id), tt.name)
		if tt.removed {
			want++
		}
	}
	require.Equal(t, want, n)
}

// TestCleanupKeepsARunThatStartsDuringIt: a run created, started and
// exited while the clean-up runs (between any read of the records and the
// listing of containers) has a stopped container whose log its instance has
// not read yet. It stays.
func TestCleanupKeepsARunThatStartsDuringIt(t *testing.T) {
	f := newCleanupFixture(t)
	var fresh string
	f.host.onList = func() { fresh = f.container(f.run(t, runs.StatusRunning), f.instance, "exited") }
	n, err := f.svc.Cleanup(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.True(t, f.host.has(fresh), "the container of a run that is still running was removed")
}

func mustGet(t *testing.T, s runs.Store, id string) *runs.Run {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	return r
}
