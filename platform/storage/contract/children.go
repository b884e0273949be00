package contract

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Family is a store whose records belong to a parent (a foreign key, or a
// jsonstore References index), as the child checks see it. Each function
// fails the test itself on an unexpected error, except Create.
type Family struct {
	// Kind names the parent in the not-found error, as the service does:
	// "project".
	Kind string
	// NewParent makes a parent of the same backend and returns its id.
	NewParent func() string
	// DeleteParent deletes a parent the way its own module does, with its
	// children.
	DeleteParent func(id string)
	// Create inserts a new child of parent through the store under test
	// and returns its id, with the store's error.
	Create func(parent string) (id string, err error)
	// Exists reports whether the child id is stored.
	Exists func(id string) bool
	// Count returns how many children of parent the store lists (the first
	// page is enough: any is an orphan once the parent is gone).
	Count func(parent string) int
}

// MissingParent requires a child of a deleted parent to be refused with
// derrors.MissingParent, which storage.CreateChild turns into the parent's
// derrors.NotFound, and nothing to be stored.
func MissingParent(t testing.TB, f Family) {
	t.Helper()
	parent := f.NewParent()
	f.DeleteParent(parent)
	var id string
	err := storage.CreateChild(f.Kind, parent, func() (err error) {
		id, err = f.Create(parent)
		return err
	})
	require.ErrorIs(t, err, derrors.ErrMissingParent, "the store refuses it: %v", err)
	var de *derrors.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, derrors.CodeNotFound, de.Code)
	require.Equal(t, fmt.Sprintf("%s %s not found", f.Kind, parent), de.Message)
	require.False(t, f.Exists(id), "a refused child is not stored")
	require.Zero(t, f.Count(parent))
}

// ParentDeletedDuringCreates has writers add children to one parent while
// it is deleted: every create must either succeed before the delete (and
// its child go with the parent) or be refused with derrors.MissingParent; a
// create begun after the delete returned must be refused, and no child may
// outlive its parent. A store that checks the parent and inserts in two
// steps fails it: the delete lands in between.
func ParentDeletedDuringCreates(t testing.TB, f Family) {
	t.Helper()
	// Each writer stops at its first refusal, or at its first create begun
	// after the delete returned; the cap only bounds a delete that hangs.
	const writers, maxCreates = 8, 100_000
	parent := f.NewParent()
	var (
		mu      sync.Mutex
		created []string
		late    []string // created by a create begun after the delete returned
		deleted atomic.Bool
		first   = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if n == maxCreates {
					errs <- errors.New("the parent's delete did not return")
					return
				}
				after := deleted.Load()
				id, err := f.Create(parent)
				once.Do(func() { close(first) })
				switch {
				case err == nil:
					mu.Lock()
					created = append(created, id)
					if after {
						late = append(late, id)
					}
					mu.Unlock()
					if after {
						return
					}
				case errors.Is(err, derrors.ErrMissingParent):
					return
				default:
					errs <- err
					return
				}
			}
		}()
	}
	<-first // at least one create finished: the delete races the others
	f.DeleteParent(parent)
	deleted.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a create failed with something other than a missing parent")
	}
	require.Empty(t, late, "creates begun after the parent was deleted succeeded")
	require.NotEmpty(t, created, "no create succeeded before the delete")
	require.Zero(t, f.Count(parent), "children outlived their parent")
	for _, id := range created {
		require.False(t, f.Exists(id), "child %s outlived its parent", id)
	}
}
