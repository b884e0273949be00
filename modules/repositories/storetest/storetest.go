// Package storetest is the contract every repositories.Store passes: the
// same cases, with the same answers, run against the JSON store and
// PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/repositories"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/contract"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Backend is a fresh, empty repositories store and the projects of the same
// backend that repositories belong to.
type Backend struct {
	Store repositories.Store
	// NewProject makes a project repositories may belong to and returns its id.
	NewProject func(t *testing.T) string
	// DeleteProject deletes a project the way the projects module does.
	DeleteProject func(t *testing.T, id string)
}

// Run runs every case on a fresh backend made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"CreateGet", testCreateGet},
		{"NotFound", testNotFound},
		{"DuplicateID", testDuplicateID},
		{"Update", testUpdate},
		{"UpdateKeepsTheID", testUpdateKeepsID},
		{"UpdateErrorAborts", testUpdateErrorAborts},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"DeleteRemovesOnlyThatRepository", testDelete},
		{"DeletingProjectDeletesItsRepositories", testProjectCascade},
		{"MissingProjectIsRefused", testMissingProject},
		{"ProjectDeletedDuringCreates", testProjectDeletedDuringCreates},
		{"ListPagesByProject", testListPagesByProject},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListEmpty", testListEmpty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newBackend(t)) })
	}
}

// base is a fixed, microsecond-precise UTC time, as the service makes them.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

func newRepo(project, name string, at time.Time) *repositories.Repository {
	return &repositories.Repository{ID: ids.New(repositories.IDPrefix), ProjectID: project, Name: name,
		URL: "https://git.example.org/team/" + name + ".git", CreatedAt: at, UpdatedAt: at}
}

func create(t *testing.T, b Backend, r *repositories.Repository) *repositories.Repository {
	t.Helper()
	require.NoError(t, b.Store.Create(context.Background(), r))
	return r
}

func get(t *testing.T, b Backend, id string) *repositories.Repository {
	t.Helper()
	r, err := b.Store.Get(context.Background(), id)
	require.NoError(t, err)
	return r
}

func testCreateGet(t *testing.T, b Backend) {
	r := newRepo(b.NewProject(t), "app ✓", base)
	r.URL = "https://git.example.org/" + strings.Repeat("u", repositories.MaxURLLen-len("https://git.example.org/"))
	r.DefaultBranch = "release/" + strings.Repeat("b", repositories.MaxBranchLen-len("release/"))
	r.UpdatedAt = base.Add(time.Second)
	create(t, b, r)
	got := get(t, b, r.ID)
	require.Equal(t, r, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	plain := create(t, b, newRepo(r.ProjectID, "plain", base))
	require.Equal(t, "", get(t, b, plain.ID).DefaultBranch, "no default branch is kept as empty")

	r.Name = "changed"
	require.Equal(t, "app ✓", get(t, b, r.ID).Name, "the store keeps its own copy")
}

func testNotFound(t *testing.T, b Backend) {
	ctx := context.Background()
	create(t, b, newRepo(b.NewProject(t), "exists", base))
	missing := ids.New(repositories.IDPrefix)
	_, err := b.Store.Get(ctx, missing)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	called := false
	_, err = b.Store.Update(ctx, missing, func(*repositories.Repository) error { called = true; return nil })
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.False(t, called, "fn is not called for a missing repository")
	require.ErrorIs(t, b.Store.Delete(ctx, missing), derrors.ErrNotFound)
}

func testDuplicateID(t *testing.T, b Backend) {
	project := b.NewProject(t)
	r := create(t, b, newRepo(project, "first", base))
	again := newRepo(project, "second", base)
	again.ID = r.ID
	err := b.Store.Create(context.Background(), again)
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "repositories.id", ce.What)
	require.Equal(t, r, get(t, b, r.ID))
}

func testUpdate(t *testing.T, b Backend) {
	r := newRepo(b.NewProject(t), "old", base)
	r.DefaultBranch = "main"
	create(t, b, r)
	later := base.Add(time.Minute)
	got, err := b.Store.Update(context.Background(), r.ID, func(r *repositories.Repository) error {
		r.Name, r.URL, r.DefaultBranch, r.UpdatedAt = "new", "git@git.example.org:team/new.git", "", later
		return nil
	})
	require.NoError(t, err)
	want := *r
	want.Name, want.URL, want.DefaultBranch, want.UpdatedAt = "new", "git@git.example.org:team/new.git", "", later
	require.Equal(t, &want, got)
	require.Equal(t, &want, get(t, b, r.ID))
}

func testUpdateKeepsID(t *testing.T, b Backend) {
	r := create(t, b, newRepo(b.NewProject(t), "kept", base))
	got, err := b.Store.Update(context.Background(), r.ID, func(r *repositories.Repository) error {
		r.ID = ids.New(repositories.IDPrefix)
		r.Name = "renamed"
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, r.ID, got.ID)
	require.Equal(t, "renamed", get(t, b, r.ID).Name)
}

func testUpdateErrorAborts(t *testing.T, b Backend) {
	r := create(t, b, newRepo(b.NewProject(t), "kept", base))
	stop := errors.New("stop")
	_, err := b.Store.Update(context.Background(), r.ID, func(r *repositories.Repository) error {
		r.Name = "half done"
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, r, get(t, b, r.ID), "nothing of an aborted update is kept")
}

// testConcurrentUpdates has 50 goroutines each add one to a counter kept in
// the name, by read-modify-write: every increment must survive.
func testConcurrentUpdates(t *testing.T, b Backend) {
	r := create(t, b, newRepo(b.NewProject(t), "0", base))
	contract.Increments(t, 50, func(bump func(*string) error) error {
		_, err := b.Store.Update(context.Background(), r.ID, func(r *repositories.Repository) error { return bump(&r.Name) })
		return err
	}, func() string { return get(t, b, r.ID).Name })
}

func testDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	project := b.NewProject(t)
	gone := create(t, b, newRepo(project, "gone", base))
	kept := create(t, b, newRepo(project, "kept", base.Add(time.Second)))
	require.NoError(t, b.Store.Delete(ctx, gone.ID))
	_, err := b.Store.Get(ctx, gone.ID)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.ErrorIs(t, b.Store.Delete(ctx, gone.ID), derrors.ErrNotFound, "a second delete finds nothing")
	require.Equal(t, kept, get(t, b, kept.ID))
	res, err := b.Store.List(ctx, project, page.Request{})
	require.NoError(t, err)
	require.Equal(t, []repositories.Repository{*kept}, res.Items)
}

// testProjectCascade: deleting a project deletes its repositories, and only
// its own, in the same transaction (ON DELETE CASCADE, or the JSON store's
// referencing index).
func testProjectCascade(t *testing.T, b Backend) {
	ctx := context.Background()
	gone, kept := b.NewProject(t), b.NewProject(t)
	var goneIDs []string
	for i := range 3 {
		goneIDs = append(goneIDs, create(t, b, newRepo(gone, fmt.Sprint("r", i), base)).ID)
	}
	other := create(t, b, newRepo(kept, "other", base))

	b.DeleteProject(t, gone)
	for _, id := range goneIDs {
		_, err := b.Store.Get(ctx, id)
		require.ErrorIs(t, err, derrors.ErrNotFound)
	}
	res, err := b.Store.List(ctx, gone, page.Request{})
	require.NoError(t, err)
	require.Empty(t, res.Items)
	require.Equal(t, other, get(t, b, other.ID))
}

// family is the store as the child checks of contract see it: repositories
// are children of projects.
func family(t *testing.T, b Backend) contract.Family {
	ctx := context.Background()
	return contract.Family{
		Kind:         "project",
		NewParent:    func() string { return b.NewProject(t) },
		DeleteParent: func(id string) { b.DeleteProject(t, id) },
		Create: func(project string) (string, error) {
			r := newRepo(project, "child", base)
			return r.ID, b.Store.Create(ctx, r)
		},
		Exists: func(id string) bool {
			_, err := b.Store.Get(ctx, id)
			if errors.Is(err, derrors.ErrNotFound) {
				return false
			}
			require.NoError(t, err)
			return true
		},
		Count: func(project string) int {
			res, err := b.Store.List(ctx, project, page.Request{})
			require.NoError(t, err)
			return len(res.Items)
		},
	}
}

// testMissingProject: a repository of a project that is gone is refused by
// both backends with the same error, a conflict on its project_id, and the
// service's helper makes that the project's not found.
func testMissingProject(t *testing.T, b Backend) {
	contract.MissingParent(t, family(t, b))
	gone := b.NewProject(t)
	b.DeleteProject(t, gone)
	err := b.Store.Create(context.Background(), newRepo(gone, "orphan", base))
	require.ErrorIs(t, err, derrors.ErrMissingParent)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "repositories.project_id", ce.What)
}

// testProjectDeletedDuringCreates: a project deleted while repositories
// are being added to it leaves none behind.
func testProjectDeletedDuringCreates(t *testing.T, b Backend) {
	contract.ParentDeletedDuringCreates(t, family(t, b))
}

// testListPagesByProject pages through two projects' repositories,
// interleaved and tying in creation time.
func testListPagesByProject(t *testing.T, b Backend) {
	apollo, gemini := b.NewProject(t), b.NewProject(t)
	var all []repositories.Repository
	for i := range 12 {
		project := apollo
		if i%3 == 1 {
			project = gemini
		}
		at := base.Add(time.Duration(i/4) * time.Millisecond) // 4 repositories per instant
		all = append(all, *newRepo(project, fmt.Sprint("r", i), at))
	}
	for _, i := range []int{11, 3, 7, 0, 9, 5, 1, 10, 2, 8, 4, 6} {
		create(t, b, &all[i])
	}
	contract.Sort(all, repoAt)
	of := func(project string) []repositories.Repository {
		var out []repositories.Repository
		for _, r := range all {
			if r.ProjectID == project {
				out = append(out, r)
			}
		}
		return out
	}
	for _, project := range []string{apollo, gemini} {
		t.Run("project="+project, func(t *testing.T) {
			contract.Pages(t, lister(b, project), of(project), repoAt)
		})
	}
}

func repoAt(r *repositories.Repository) page.Cursor {
	return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
}

// lister lists project's repositories.
func lister(b Backend, project string) func(page.Request) (page.Result[repositories.Repository], error) {
	return func(req page.Request) (page.Result[repositories.Repository], error) {
		return b.Store.List(context.Background(), project, req)
	}
}

// testListDefaultLimit has more repositories than page.DefaultLimit, so that
// an unset limit needs two pages.
func testListDefaultLimit(t *testing.T, b Backend) {
	project := b.NewProject(t)
	var all []repositories.Repository
	for i := range page.DefaultLimit + 3 {
		all = append(all, *create(t, b, newRepo(project, fmt.Sprint("r", i), base.Add(time.Duration(i)*time.Microsecond))))
	}
	contract.Pages(t, lister(b, project), all, repoAt)
}

func testListEmpty(t *testing.T, b Backend) {
	create(t, b, newRepo(b.NewProject(t), "elsewhere", base))
	contract.Pages(t, lister(b, b.NewProject(t)), nil, repoAt)
}
