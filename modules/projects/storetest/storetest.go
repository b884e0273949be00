// Package storetest is the contract every projects.Store passes: the same
// cases, with the same answers, run against the JSON store and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/projects"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/contract"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Backend is a fresh, empty projects store and a way to make project owners
// in the same backend (PostgreSQL checks that an owner exists).
type Backend struct {
	Store projects.Store
	// NewOwner makes a user who may own projects and returns their id.
	NewOwner func(t *testing.T) string
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
		{"UpdateErrorAborts", testUpdateErrorAborts},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"DeleteRemovesOnlyThatProject", testDelete},
		{"ListPagesByOwner", testListPagesByOwner},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListEmpty", testListEmpty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newBackend(t)) })
	}
}

// base is a fixed, microsecond-precise UTC time, as the service makes them.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

func newProject(owner, name string, at time.Time) *projects.Project {
	return &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: owner, Name: name, CreatedAt: at, UpdatedAt: at}
}

func create(t *testing.T, b Backend, p *projects.Project) *projects.Project {
	t.Helper()
	require.NoError(t, b.Store.Create(context.Background(), p))
	return p
}

func get(t *testing.T, b Backend, id string) *projects.Project {
	t.Helper()
	p, err := b.Store.Get(context.Background(), id)
	require.NoError(t, err)
	return p
}

func testCreateGet(t *testing.T, b Backend) {
	owner := b.NewOwner(t)
	p := newProject(owner, "Apollo ✓", base)
	p.Description = strings.Repeat("d", projects.MaxDescriptionLen)
	p.UpdatedAt = base.Add(time.Second)
	create(t, b, p)
	got := get(t, b, p.ID)
	require.Equal(t, p, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	p.Name = "changed"
	require.Equal(t, "Apollo ✓", get(t, b, p.ID).Name, "the store keeps its own copy")
}

func testNotFound(t *testing.T, b Backend) {
	ctx := context.Background()
	create(t, b, newProject(b.NewOwner(t), "exists", base))
	missing := ids.New(projects.IDPrefix)
	_, err := b.Store.Get(ctx, missing)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	called := false
	_, err = b.Store.Update(ctx, missing, func(*projects.Project) error { called = true; return nil })
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.False(t, called, "fn is not called for a missing project")
	require.ErrorIs(t, b.Store.Delete(ctx, missing), derrors.ErrNotFound)
}

func testDuplicateID(t *testing.T, b Backend) {
	owner := b.NewOwner(t)
	p := create(t, b, newProject(owner, "first", base))
	again := newProject(owner, "second", base)
	again.ID = p.ID
	err := b.Store.Create(context.Background(), again)
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "projects.id", ce.What)
	require.Equal(t, p, get(t, b, p.ID))
}

func testUpdate(t *testing.T, b Backend) {
	p := create(t, b, newProject(b.NewOwner(t), "old", base))
	later := base.Add(time.Minute)
	got, err := b.Store.Update(context.Background(), p.ID, func(p *projects.Project) error {
		p.Name, p.Description, p.UpdatedAt = "new", "described", later
		return nil
	})
	require.NoError(t, err)
	want := *p
	want.Name, want.Description, want.UpdatedAt = "new", "described", later
	require.Equal(t, &want, got)
	require.Equal(t, &want, get(t, b, p.ID))
}

func testUpdateErrorAborts(t *testing.T, b Backend) {
	p := create(t, b, newProject(b.NewOwner(t), "kept", base))
	stop := errors.New("stop")
	_, err := b.Store.Update(context.Background(), p.ID, func(p *projects.Project) error {
		p.Name = "half done"
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, p, get(t, b, p.ID), "nothing of an aborted update is kept")
}

// testConcurrentUpdates has 50 goroutines each add one to a counter kept in
// the description, by read-modify-write: every increment must survive.
func testConcurrentUpdates(t *testing.T, b Backend) {
	p := newProject(b.NewOwner(t), "counter", base)
	p.Description = "0"
	create(t, b, p)
	contract.Increments(t, 50, func(bump func(*string) error) error {
		_, err := b.Store.Update(context.Background(), p.ID, func(p *projects.Project) error { return bump(&p.Description) })
		return err
	}, func() string { return get(t, b, p.ID).Description })
}

// testDelete checks what every backend promises of Delete: the project is
// gone from lookups and lists, and nothing else is touched. (PostgreSQL's
// cascade from a deleted user is its own test, next to the store.)
func testDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	owner := b.NewOwner(t)
	gone := create(t, b, newProject(owner, "gone", base))
	kept := create(t, b, newProject(owner, "kept", base.Add(time.Second)))
	require.NoError(t, b.Store.Delete(ctx, gone.ID))
	_, err := b.Store.Get(ctx, gone.ID)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.ErrorIs(t, b.Store.Delete(ctx, gone.ID), derrors.ErrNotFound, "a second delete finds nothing")
	require.Equal(t, kept, get(t, b, kept.ID))
	for _, o := range []string{owner, ""} {
		res, err := b.Store.List(ctx, o, page.Request{})
		require.NoError(t, err)
		require.Equal(t, []projects.Project{*kept}, res.Items)
	}
}

// testListPagesByOwner pages through two owners' projects, interleaved and
// tying in creation time, by owner and all together.
func testListPagesByOwner(t *testing.T, b Backend) {
	ada, bob := b.NewOwner(t), b.NewOwner(t)
	var all []projects.Project
	for i := range 12 {
		owner := ada
		if i%3 == 1 {
			owner = bob
		}
		at := base.Add(time.Duration(i/4) * time.Millisecond) // 4 projects per instant
		all = append(all, *newProject(owner, fmt.Sprint("p", i), at))
	}
	for _, i := range []int{11, 3, 7, 0, 9, 5, 1, 10, 2, 8, 4, 6} {
		create(t, b, &all[i])
	}
	contract.Sort(all, projectAt)
	ownedBy := func(owner string) []projects.Project {
		var out []projects.Project
		for _, p := range all {
			if owner == "" || p.OwnerID == owner {
				out = append(out, p)
			}
		}
		return out
	}
	for _, owner := range []string{ada, bob, ""} {
		t.Run(fmt.Sprintf("owner=%q", owner), func(t *testing.T) {
			contract.Pages(t, lister(b, owner), ownedBy(owner), projectAt)
		})
	}
	t.Run("an owner with no projects sees none", func(t *testing.T) {
		contract.Pages(t, lister(b, b.NewOwner(t)), nil, projectAt)
	})
}

func projectAt(p *projects.Project) page.Cursor {
	return page.Cursor{CreatedAt: p.CreatedAt, ID: p.ID}
}

// lister lists owner's projects, or all projects when owner is "".
func lister(b Backend, owner string) func(page.Request) (page.Result[projects.Project], error) {
	return func(req page.Request) (page.Result[projects.Project], error) {
		return b.Store.List(context.Background(), owner, req)
	}
}

// testListDefaultLimit has more projects than page.DefaultLimit, so that an
// unset limit needs two pages.
func testListDefaultLimit(t *testing.T, b Backend) {
	owner := b.NewOwner(t)
	var all []projects.Project
	for i := range page.DefaultLimit + 3 {
		all = append(all, *create(t, b, newProject(owner, fmt.Sprint("p", i), base.Add(time.Duration(i)*time.Microsecond))))
	}
	contract.Pages(t, lister(b, owner), all, projectAt)
}

func testListEmpty(t *testing.T, b Backend) {
	for _, owner := range []string{b.NewOwner(t), ""} {
		contract.Pages(t, lister(b, owner), nil, projectAt)
	}
}
