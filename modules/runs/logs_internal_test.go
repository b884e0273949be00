package runs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/objects/objectstest"
)

// flaky is an object store whose appends fail as fail says: before storing
// (the store was down), after storing (the answer was lost), or not at all.
type flaky struct {
	objects.Store
	fail func(n int) fate

	mu      sync.Mutex
	appends int
}

// fate is what becomes of one append.
type fate int

const (
	succeed    fate = iota
	failBefore      // not stored, error
	failStored      // stored, error
)

var errStoreDown = derrors.Unavailable("object store", errors.New("down"))

func (s *flaky) AppendAt(ctx context.Context, key string, off int64, p []byte) error {
	s.mu.Lock()
	s.appends++
	f := s.fail(s.appends)
	s.mu.Unlock()
	switch f {
	case failBefore:
		return errStoreDown
	case failStored:
		if err := s.Store.AppendAt(ctx, key, off, p); err != nil {
			return err
		}
		return errStoreDown
	}
	return s.Store.AppendAt(ctx, key, off, p)
}

func newTestWriter(t *testing.T, store objects.Store, limits logLimits) *logWriter {
	t.Helper()
	return newLogWriter(followedRun, store, zap.NewNop(), limits)
}

func stored(t *testing.T, s objects.Store) []byte {
	t.Helper()
	return objectstest.ReadAll(t, s, logKey(followedRun))
}

func localStore(t *testing.T) objects.Store {
	t.Helper()
	s, err := objects.NewLocal(t.TempDir())
	require.NoError(t, err)
	return s
}

// TestLogWriterStoresEachByteOnceThroughFailures has appends fail before
// and after the store kept them, while output keeps coming: the stored log
// is the output, each byte once, in order.
func TestLogWriterStoresEachByteOnceThroughFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := localStore(t)
		store := &flaky{Store: base, fail: func(n int) fate {
			switch n % 4 {
			case 1:
				return failStored // landed, but the writer cannot know
			case 2:
				return failBefore
			}
			return succeed
		}}
		lw := newTestWriter(t, store, logLimits{every: time.Second, batch: 100, maxPending: 1 << 20, maxBytes: 1 << 30, failAfter: time.Hour})
		var want bytes.Buffer
		for i := range 200 {
			line := fmt.Appendf(nil, "line %d\n", i)
			write(t, lw, string(line))
			want.Write(line)
			if i%7 == 0 {
				lw.flush(t.Context())
			}
		}
		for range 10 {
			lw.flush(t.Context())
		}
		require.Zero(t, lw.unstored())
		require.Equal(t, want.String(), string(stored(t, base)))
	})
}

// TestLogWriterBoundsMemoryWhileTheStoreFails has an agent write far more
// than maxPending while the store is down: Write holds the agent back
// rather than hold its output, and gives up once the store has failed for
// failAfter, leaving at most maxPending bytes in memory.
func TestLogWriterBoundsMemoryWhileTheStoreFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flaky{Store: localStore(t), fail: func(int) fate { return failBefore }}
		limits := logLimits{every: 250 * time.Millisecond, batch: 16 << 10, maxPending: 256 << 10, maxBytes: 1 << 30, failAfter: time.Minute}
		lw := newTestWriter(t, store, limits)
		ctx, stop := context.WithCancel(t.Context())
		flusher := make(chan struct{})
		go func() { defer close(flusher); lw.run(ctx) }()

		began := time.Now()
		var accepted int
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			piece := bytes.Repeat([]byte("x"), 32<<10)
			for range 1024 { // 32 MiB
				var n int
				n, err = lw.Write(piece)
				accepted += n
				if err != nil {
					return
				}
			}
		}()
		synctest.Wait()
		require.Equal(t, limits.maxPending, accepted, "the agent waits once maxPending bytes are held")
		require.Equal(t, limits.maxPending, lw.unstored())

		<-done
		require.ErrorIs(t, err, errLogStore, "then the writer gives up")
		require.GreaterOrEqual(t, time.Since(began), limits.failAfter)
		require.Less(t, time.Since(began), limits.failAfter+time.Second)
		require.Equal(t, limits.maxPending, lw.unstored(), "never more than maxPending held")
		stop()
		<-flusher
	})
}

// TestLogWriterWaitsForAStoreThatComesBack is the same outage, shorter than
// failAfter: the agent was only held back, and its whole output is stored.
func TestLogWriterWaitsForAStoreThatComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := localStore(t)
		var down sync.Mutex
		outage := true
		store := &flaky{Store: base, fail: func(int) fate {
			down.Lock()
			defer down.Unlock()
			if outage {
				return failBefore
			}
			return succeed
		}}
		limits := logLimits{every: 250 * time.Millisecond, batch: 16 << 10, maxPending: 256 << 10, maxBytes: 1 << 30, failAfter: time.Minute}
		lw := newTestWriter(t, store, limits)
		ctx, stop := context.WithCancel(t.Context())
		flusher := make(chan struct{})
		go func() { defer close(flusher); lw.run(ctx) }()
		var want bytes.Buffer
		done := make(chan error, 1)
		go func() {
			for i := range 4096 {
				line := fmt.Appendf(nil, "%0255d\n", i) // 1 MiB in all
				want.Write(line)
				if _, err := lw.Write(line); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.Equal(t, limits.maxPending, lw.unstored(), "held back during the outage")
		down.Lock()
		outage = false
		down.Unlock()
		require.NoError(t, <-done)
		for lw.unstored() > 0 {
			time.Sleep(limits.every)
		}
		stop()
		<-flusher
		require.Equal(t, want.String(), string(stored(t, base)))
	})
}

// TestLogWriterGivesUpOnAConflict: another writer has the log; retrying
// cannot help.
func TestLogWriterGivesUpOnAConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := localStore(t)
		require.NoError(t, base.AppendAt(t.Context(), logKey(followedRun), 0, []byte("someone else\n")))
		lw := newTestWriter(t, base, testLimits)
		write(t, lw, "mine\n")
		lw.flush(t.Context())
		_, err := lw.Write([]byte("more\n"))
		require.ErrorIs(t, err, errLogStore)
		require.ErrorIs(t, err, derrors.ErrConflict)
		require.Equal(t, "someone else\n", string(stored(t, base)))
	})
}

// TestLogWriterTruncates caps a log at maxBytes: the first maxBytes bytes,
// then the marker; the rest is taken (the agent's output keeps draining)
// and discarded.
func TestLogWriterTruncates(t *testing.T) {
	for _, piece := range []int{1, 7, 100, 250} {
		t.Run(fmt.Sprint(piece), func(t *testing.T) {
			base := localStore(t)
			limits := testLimits
			limits.maxBytes = 100
			lw := newTestWriter(t, base, limits)
			out := bytes.Repeat([]byte("0123456789"), 25)
			for i := 0; i < len(out); i += piece {
				p := out[i:min(i+piece, len(out))]
				n, err := lw.Write(p)
				require.NoError(t, err)
				require.Equal(t, len(p), n)
			}
			lw.flush(t.Context())
			want := string(out[:100]) + "\n[slipway: log truncated at 100 bytes; the agent's further output was discarded]\n"
			require.Equal(t, want, string(stored(t, base)))
			require.True(t, lw.wasTruncated())
		})
	}
	t.Run("exactly at the cap", func(t *testing.T) {
		base := localStore(t)
		limits := testLimits
		limits.maxBytes = 10
		lw := newTestWriter(t, base, limits)
		write(t, lw, "0123456789")
		lw.flush(t.Context())
		require.False(t, lw.wasTruncated(), "nothing was cut yet")
		require.Equal(t, "0123456789", string(stored(t, base)))
	})
}
