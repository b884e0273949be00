package contract

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// tree is an in-memory parent/child store with three ways to insert.
type tree struct {
	mu       sync.Mutex
	seq      int
	parents  map[string]bool
	children map[string]string // child → parent
}

func newTree() *tree { return &tree{parents: map[string]bool{}, children: map[string]string{}} }

func (s *tree) family(create func(parent string) (string, error)) Family {
	return Family{
		Kind: "project",
		NewParent: func() string {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.seq++
			id := fmt.Sprint("p", s.seq)
			s.parents[id] = true
			return id
		},
		DeleteParent: func(id string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.parents, id)
			for c, p := range s.children {
				if p == id {
					delete(s.children, c)
				}
			}
		},
		Create: create,
		Exists: func(id string) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			_, ok := s.children[id]
			return ok
		},
		Count: func(parent string) int {
			s.mu.Lock()
			defer s.mu.Unlock()
			n := 0
			for _, p := range s.children {
				if p == parent {
					n++
				}
			}
			return n
		},
	}
}

// insert adds a child; the caller holds mu.
func (s *tree) insert(parent string) string {
	s.seq++
	id := fmt.Sprint("c", s.seq)
	s.children[id] = parent
	return id
}

// atomic checks the parent and inserts under one lock, as a foreign key does.
func (s *tree) atomic(parent string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.parents[parent] {
		return "", derrors.MissingParent("children.parent", nil)
	}
	return s.insert(parent), nil
}

// unchecked inserts whatever the parent.
func (s *tree) unchecked(parent string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insert(parent), nil
}

// twoStep checks the parent, lets others run, then inserts: a delete can
// land in between.
func (s *tree) twoStep(parent string) (string, error) {
	s.mu.Lock()
	ok := s.parents[parent]
	s.mu.Unlock()
	if !ok {
		return "", derrors.MissingParent("children.parent", nil)
	}
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insert(parent), nil
}

// checkOn runs check on a recorder, in its own goroutine as FailNow ends it.
func checkOn(t *testing.T, check func(testing.TB, Family), f Family) *recorder {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(rec, f)
	}()
	<-done
	return rec
}

func TestChildChecksPassAnAtomicStore(t *testing.T) {
	s := newTree()
	require.False(t, checkOn(t, MissingParent, s.family(s.atomic)).failed)
	for range 5 {
		rec := checkOn(t, ParentDeletedDuringCreates, s.family(s.atomic))
		require.False(t, rec.failed, rec.msgs)
	}
}

func TestMissingParentCatchesAnUncheckedStore(t *testing.T) {
	s := newTree()
	require.True(t, checkOn(t, MissingParent, s.family(s.unchecked)).failed)
}

func TestParentDeletedDuringCreatesCatchesAnOrphan(t *testing.T) {
	s := newTree()
	require.True(t, checkOn(t, ParentDeletedDuringCreates, s.family(s.unchecked)).failed)
	caught := false
	for range 20 { // an orphan needs the delete between a check and its insert
		if checkOn(t, ParentDeletedDuringCreates, s.family(s.twoStep)).failed {
			caught = true
			break
		}
	}
	require.True(t, caught, "a check and an insert in two steps passed")
}
