package contract

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// record is a one-field record behind a store-like update.
type record struct {
	mu      sync.Mutex
	counter string
}

// update is a correct read-modify-write: the whole of it under the lock.
func (r *record) update(bump func(*string) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counter
	if err := bump(&c); err != nil {
		return err
	}
	r.counter = c
	return nil
}

// lossy reads and writes under the lock but bumps outside it, so that
// concurrent updates overwrite each other: a lost update.
func (r *record) lossy(bump func(*string) error) error {
	r.mu.Lock()
	c := r.counter
	r.mu.Unlock()
	if err := bump(&c); err != nil {
		return err
	}
	runtime.Gosched() // let another update read the same value meanwhile
	r.mu.Lock()
	r.counter = c
	r.mu.Unlock()
	return nil
}

func (r *record) read() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counter
}

// inRecorder runs Increments on a recorder, in its own goroutine as FailNow ends it.
func inRecorder(t *testing.T, update func(func(*string) error) error, read func() string) *recorder {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Increments(rec, 200, update, read)
	}()
	<-done
	return rec
}

func TestIncrementsPassesAnAtomicUpdate(t *testing.T) {
	r := &record{counter: "0"}
	require.False(t, inRecorder(t, r.update, r.read).failed)
	require.Equal(t, "200", r.read())
}

func TestIncrementsCatchesALostUpdate(t *testing.T) {
	caught := false
	for range 20 { // a lost update needs two goroutines to interleave
		r := &record{counter: "0"}
		if inRecorder(t, r.lossy, r.read).failed {
			caught = true
			break
		}
	}
	require.True(t, caught, "a read-modify-write that loses updates passed")
}

func TestIncrementsCatchesAFailedUpdate(t *testing.T) {
	fail := func(func(*string) error) error { return errors.New("store down") }
	require.True(t, inRecorder(t, fail, func() string { return "200" }).failed)
}
