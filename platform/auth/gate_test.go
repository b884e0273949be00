package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// heldHasher is a hasher whose argon2 calls block until release is closed
// or sent to, counting how many run at once.
type heldHasher struct {
	Hasher
	release chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func newHeldHasher(memoryKiB uint32, gate *Gate) *heldHasher {
	h := &heldHasher{release: make(chan struct{})}
	h.Hasher = Hasher{MemoryKiB: memoryKiB, Time: 1, Threads: 1, Gate: gate}
	h.idKey = func(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
		n := h.running.Add(1)
		for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
		}
		<-h.release
		h.running.Add(-1)
		return make([]byte, keyLen)
	}
	return h
}

func requireBusy(t *testing.T, err error) {
	t.Helper()
	var de *derrors.Error
	require.True(t, errors.As(err, &de), "%v", err)
	require.Equal(t, derrors.CodeUnavailable, de.Code)
	require.Equal(t, "password_hashing", de.Details["service"])
	require.Equal(t, time.Second, de.RetryAfter)
}

// TestGateBoundsHashesAtOnce: with a budget of three hashes, three run, the
// fourth waits in the queue (of one), a fifth is refused at once, the
// waiter is refused when its wait is over, and one finishing lets the next
// waiter in. Sign-up (Hash) and login (Verify) share the bound.
func TestGateBoundsHashesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const m = 1024
		const wait = 2 * time.Second
		h := newHeldHasher(m, NewGate(3*HashCost(m), 1, wait))
		require.EqualValues(t, 3, h.Gate.Slots(m))
		ctx := context.Background()
		stored := Hasher{MemoryKiB: m, Time: 1, Threads: 1}.DummyHash()

		done := make(chan error, 8)
		hash := func() { _, err := h.Hash(ctx, "correct horse battery"); done <- err }
		verify := func() { _, err := h.Verify(ctx, stored, "correct horse battery"); done <- err }
		go hash()
		go hash()
		go verify()
		synctest.Wait()
		require.EqualValues(t, 3, h.running.Load(), "the budget's three run")

		fourth := make(chan error, 1)
		go func() { _, err := h.Verify(ctx, stored, "guess"); fourth <- err }()
		synctest.Wait()
		require.EqualValues(t, 3, h.running.Load(), "the fourth does not run")
		require.Empty(t, fourth, "it waits")

		began := time.Now()
		_, err := h.Hash(ctx, "one more")
		requireBusy(t, err)
		require.Zero(t, time.Since(began), "the queue of one is full: refused without waiting")

		time.Sleep(wait)
		synctest.Wait()
		require.Len(t, fourth, 1, "the waiter is answered when its wait is over")
		requireBusy(t, <-fourth)
		require.EqualValues(t, 3, h.running.Load())

		go hash() // waits again
		synctest.Wait()
		require.EqualValues(t, 3, h.running.Load())
		h.release <- struct{}{} // one finishes ...
		require.NoError(t, <-done)
		synctest.Wait()
		require.EqualValues(t, 3, h.running.Load(), "... and the waiter takes its place")

		close(h.release)
		for range 3 {
			require.NoError(t, <-done)
		}
		require.EqualValues(t, 3, h.peak.Load(), "never more than the budget at once")
	})
}

// TestGateWaitEndsWithTheCaller: a waiter whose request context ends stops
// waiting at once.
func TestGateWaitEndsWithTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeldHasher(1024, NewGate(HashCost(1024), 4, time.Minute))
		go func() { _, _ = h.Hash(context.Background(), "first") }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() { _, err := h.Hash(ctx, "second"); got <- err }()
		synctest.Wait()
		require.Empty(t, got)
		cancel()
		synctest.Wait()
		require.Len(t, got, 1, "answered as soon as the caller is gone")
		requireBusy(t, <-got)
		close(h.release)
	})
}

// TestGateRunsAnOversizedHashAlone: a stored hash of a higher cost than the
// whole budget still verifies, alone.
func TestGateRunsAnOversizedHashAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeldHasher(1024, NewGate(2*HashCost(1024), 4, time.Minute))
		big := Hasher{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}.DummyHash()
		done := make(chan error, 2)
		go func() { _, err := h.Verify(context.Background(), big, "x"); done <- err }()
		synctest.Wait()
		go func() { _, err := h.Hash(context.Background(), "y"); done <- err }()
		synctest.Wait()
		require.EqualValues(t, 1, h.running.Load(), "the big one holds the whole budget")
		close(h.release)
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		require.EqualValues(t, 1, h.peak.Load())
	})
}
