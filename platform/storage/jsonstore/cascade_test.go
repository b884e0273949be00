package jsonstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// cnode is a document of the cascade tests: a parent id per level.
type cnode struct {
	ID     string `json:"id"`
	Parent string `json:"parent"`
}

func nodeSpec(name, parent string) CollectionSpec[cnode] {
	return CollectionSpec[cnode]{
		Name: name,
		ID:   func(n *cnode) string { return n.ID },
		Indexes: []Index[cnode]{{Name: "parent", References: parent,
			Key: func(n *cnode) (string, bool) { return n.Parent, n.Parent != "" }}},
	}
}

func TestCascadeDeletesChildrenAndGrandchildren(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	projects, err := NewCollection(s, nodeSpec("projects", ""))
	require.NoError(t, err)
	repos, err := NewCollection(s, nodeSpec("repos", "projects"))
	require.NoError(t, err)
	runs, err := NewCollection(s, nodeSpec("runs", "repos"))
	require.NoError(t, err)

	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		for _, p := range []string{"p1", "p2"} {
			require.NoError(t, projects.Insert(tx, &cnode{ID: p}))
			for _, r := range []string{"a", "b"} {
				require.NoError(t, repos.Insert(tx, &cnode{ID: p + r, Parent: p}))
				require.NoError(t, runs.Insert(tx, &cnode{ID: p + r + "-run", Parent: p + r}))
			}
		}
		return nil
	}))
	before := s.Stats().Commits
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return projects.Delete(tx, "p1") }))
	require.Equal(t, before+1, s.Stats().Commits, "the cascade is one commit")

	check := func(s *Store, projects, repos, runs *Collection[cnode]) {
		require.NoError(t, s.View(ctx, func(tx *Tx) error {
			for _, id := range []string{"p1a", "p1b"} {
				_, err := repos.Get(tx, id)
				require.True(t, errors.Is(err, derrors.ErrNotFound), id)
				_, err = runs.Get(tx, id+"-run")
				require.True(t, errors.Is(err, derrors.ErrNotFound), id)
			}
			for _, id := range []string{"p2a", "p2b"} {
				_, err := repos.Get(tx, id)
				require.NoError(t, err, "other parents' children stay")
				_, err = runs.Get(tx, id+"-run")
				require.NoError(t, err)
			}
			return nil
		}))
	}
	check(s, projects, repos, runs)

	// A failed transaction rolls the whole cascade back.
	err = s.Update(ctx, func(tx *Tx) error {
		require.NoError(t, projects.Delete(tx, "p2"))
		return errors.New("abort")
	})
	require.Error(t, err)
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		_, err := runs.Get(tx, "p2a-run")
		return err
	}))

	// The cascade survives a reopen (it was logged as deletes).
	require.NoError(t, s.Close())
	s2 := openStore(t, dir, Options{})
	p2, err := NewCollection(s2, nodeSpec("projects", ""))
	require.NoError(t, err)
	r2, err := NewCollection(s2, nodeSpec("repos", "projects"))
	require.NoError(t, err)
	n2, err := NewCollection(s2, nodeSpec("runs", "repos"))
	require.NoError(t, err)
	check(s2, p2, r2, n2)
}

// family opens a store with projects, repos referencing projects and runs
// referencing repos.
func family(t *testing.T, dir string) (*Store, *Collection[cnode], *Collection[cnode], *Collection[cnode]) {
	t.Helper()
	s := openStore(t, dir, Options{})
	projects, err := NewCollection(s, nodeSpec("projects", ""))
	require.NoError(t, err)
	repos, err := NewCollection(s, nodeSpec("repos", "projects"))
	require.NoError(t, err)
	runs, err := NewCollection(s, nodeSpec("runs", "repos"))
	require.NoError(t, err)
	return s, projects, repos, runs
}

// requireMissingParent checks err is the refusal a foreign key gives.
func requireMissingParent(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, derrors.ErrMissingParent)
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, what, ce.What)
}

func TestReferencesRefuseAChildOfAMissingParent(t *testing.T) {
	s, projects, repos, runs := family(t, t.TempDir())
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return projects.Insert(tx, &cnode{ID: "p1"}) }))

	before := s.Stats().Commits
	err := s.Update(ctx, func(tx *Tx) error { return repos.Insert(tx, &cnode{ID: "r1", Parent: "nope"}) })
	requireMissingParent(t, err, "repos.parent")
	require.Contains(t, err.Error(), `no projects "nope"`)
	err = s.Update(ctx, func(tx *Tx) error { return runs.Put(tx, &cnode{ID: "x1", Parent: "nope"}) })
	requireMissingParent(t, err, "runs.parent")
	require.Equal(t, before, s.Stats().Commits, "nothing was written")

	// A refused write leaves the transaction as it was: the caller may go on.
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		requireMissingParent(t, repos.Insert(tx, &cnode{ID: "r1", Parent: "nope"}), "repos.parent")
		_, err := repos.Get(tx, "r1")
		require.ErrorIs(t, err, derrors.ErrNotFound)
		// A parent inserted earlier in the same transaction counts.
		require.NoError(t, projects.Insert(tx, &cnode{ID: "p2"}))
		require.NoError(t, repos.Insert(tx, &cnode{ID: "r2", Parent: "p2"}))
		require.NoError(t, runs.Insert(tx, &cnode{ID: "x2", Parent: "r2"}))
		// A deleted parent does not.
		require.NoError(t, projects.Delete(tx, "p1"))
		requireMissingParent(t, repos.Insert(tx, &cnode{ID: "r3", Parent: "p1"}), "repos.parent")
		return nil
	}))
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		_, err := runs.Get(tx, "x2")
		return err
	}))

	// An update that moves a child to a missing parent is refused too; one
	// that keeps the parent is not checked.
	err = s.Update(ctx, func(tx *Tx) error { return repos.Put(tx, &cnode{ID: "r2", Parent: "p1"}) })
	requireMissingParent(t, err, "repos.parent")
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return repos.Put(tx, &cnode{ID: "r2", Parent: "p2"}) }))
}

// TestReferencesLeaveOldOrphansUpdatable: documents written before their
// index referenced a parent (data from an older release) may be updated as
// long as the reference stays, as PostgreSQL checks a foreign key only when
// it changes.
func TestReferencesLeaveOldOrphansUpdatable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir, Options{})
	loose, err := NewCollection(s, nodeSpec("repos", ""))
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return loose.Insert(tx, &cnode{ID: "r1", Parent: "gone"}) }))
	require.NoError(t, s.Close())

	s, _, repos, _ := family(t, dir)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return repos.Put(tx, &cnode{ID: "r1", Parent: "gone"}) }))
	err = s.Update(ctx, func(tx *Tx) error { return repos.Put(tx, &cnode{ID: "r1", Parent: "other"}) })
	requireMissingParent(t, err, "repos.parent")
}

func TestReferencesAllowASelfReference(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	tree, err := NewCollection(s, nodeSpec("tree", "tree"))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return tree.Insert(tx, &cnode{ID: "root", Parent: "root"}) }))
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return tree.Insert(tx, &cnode{ID: "leaf", Parent: "root"}) }))
	requireMissingParent(t, s.Update(ctx, func(tx *Tx) error { return tree.Insert(tx, &cnode{ID: "lost", Parent: "nope"}) }), "tree.parent")
}

// TestReferencesRaceWithParentDelete has writers add children to a parent
// while another deletes it: the check and the insert are one step under the
// single writer, so every insert lands before the delete (and is cascaded
// away) or is refused after it, and no orphan is left.
func TestReferencesRaceWithParentDelete(t *testing.T) {
	s, projects, repos, _ := family(t, t.TempDir())
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return projects.Insert(tx, &cnode{ID: "p"}) }))
	const writers, each = 8, 50
	var inserted atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Update(ctx, func(tx *Tx) error {
					return repos.Insert(tx, &cnode{ID: fmt.Sprintf("r%d-%d", w, i), Parent: "p"})
				})
				once.Do(func() { close(first) })
				if err == nil {
					inserted.Add(1)
					continue
				}
				errs <- err
				if errors.Is(err, derrors.ErrMissingParent) {
					return
				}
			}
		}()
	}
	<-first
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return projects.Delete(tx, "p") }))
	wg.Wait()
	close(errs)
	for err := range errs {
		requireMissingParent(t, err, "repos.parent")
	}
	require.Positive(t, inserted.Load())
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		n, err := repos.Count(tx, "", "")
		require.Zero(t, n, "no repository outlived its project")
		return err
	}))
}

// TestOnDeleteRunsForEveryDeletion: the hook sees direct deletes and
// cascaded ones, writes in the same transaction, and its error aborts it.
func TestOnDeleteRunsForEveryDeletion(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	projects, err := NewCollection(s, nodeSpec("projects", ""))
	require.NoError(t, err)
	tombs, err := NewCollection(s, nodeSpec("tombs", ""))
	require.NoError(t, err)
	fail := false
	spec := nodeSpec("repos", "projects")
	spec.OnDelete = func(tx *Tx, n *cnode) error {
		if fail {
			return errors.New("hook failed")
		}
		return tombs.Put(tx, &cnode{ID: n.ID})
	}
	repos, err := NewCollection(s, spec)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		require.NoError(t, projects.Insert(tx, &cnode{ID: "p"}))
		for _, id := range []string{"a", "b", "c"} {
			require.NoError(t, repos.Insert(tx, &cnode{ID: id, Parent: "p"}))
		}
		return nil
	}))
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return repos.Delete(tx, "a") }))
	fail = true
	err = s.Update(ctx, func(tx *Tx) error { return projects.Delete(tx, "p") })
	require.ErrorContains(t, err, "hook failed")
	fail = false
	before := s.Stats().Commits
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return projects.Delete(tx, "p") }))
	require.Equal(t, before+1, s.Stats().Commits, "the cascade and its hooks are one commit")
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		var got []string
		for n, err := range tombs.All(tx, "", "") {
			require.NoError(t, err)
			got = append(got, n.ID)
		}
		require.Equal(t, []string{"a", "b", "c"}, got)
		return nil
	}))
}
