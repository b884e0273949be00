package jsonstore

import (
	"context"
	"errors"
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
