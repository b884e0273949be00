package contract

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Increments has n goroutines each add one, by read-modify-write through
// update, to a decimal counter kept in a string field of one record (which
// must start at "0"), then requires every update to succeed and read to
// return n: a lost update shows as a lower count. update runs the store's
// Update with a callback that passes the counter field to bump.
func Increments(t testing.TB, n int, update func(bump func(counter *string) error) error, read func() string) {
	t.Helper()
	bump := func(counter *string) error {
		v, err := strconv.Atoi(*counter)
		if err != nil {
			return err
		}
		*counter = strconv.Itoa(v + 1)
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- update(bump)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, strconv.Itoa(n), read())
}
