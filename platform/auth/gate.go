package auth

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Gate bounds the memory password hashes hold at once. Each argon2id hash
// allocates its whole memory parameter for as long as it runs, and every
// sign-up and login runs one, so without a bound a burst of them took the
// server from 40 MiB to over 700 MiB. The gate admits hashes while the sum
// of their cost fits the budget; the others wait in a queue of bounded
// length, for a bounded time, then are refused with a retryable 503. A nil
// *Gate admits everything.
//
// A hash costs twice its memory parameter: the memory while it runs, and
// the same again as garbage once it is done, which stays on the heap until
// the next collection (Go's default GOGC=100 lets the heap grow to twice
// what was live before collecting). Counting only the first half let the
// heap reach twice the budget.
type Gate struct {
	sem      *semaphore.Weighted // in KiB, the unit of argon2's memory parameter
	budget   int64
	maxQueue int64
	maxWait  time.Duration
	waiting  atomic.Int64
}

// NewGate returns a gate of budgetBytes, where at most queue callers wait,
// each at most wait.
func NewGate(budgetBytes int64, queue int, wait time.Duration) *Gate {
	kib := max(budgetBytes/1024, 1)
	return &Gate{sem: semaphore.NewWeighted(kib), budget: kib, maxQueue: int64(queue), maxWait: wait}
}

// HashCost is what a hash of memoryKiB counts against the budget, in bytes.
func HashCost(memoryKiB uint32) int64 { return costKiB(memoryKiB) * 1024 }

func costKiB(memoryKiB uint32) int64 { return 2 * int64(memoryKiB) }

// Slots returns how many hashes of memoryKiB the gate runs at once.
func (g *Gate) Slots(memoryKiB uint32) int64 {
	return max(g.budget/max(costKiB(memoryKiB), 1), 1)
}

// RetryAfter is what a refused caller is told to wait: hashes take tens of
// milliseconds, so room comes free soon.
const RetryAfter = time.Second

// errBusy is the answer of a full gate: the server is overloaded, not the
// client misbehaving (that is what 429 says), so 503, retryable.
func errBusy() *derrors.Error {
	e := derrors.New(derrors.CodeUnavailable, "the server is checking too many passwords at once; try again shortly").
		WithDetail("service", "password_hashing")
	e.RetryAfter = RetryAfter
	return e
}

// Enter admits a hash of memoryKiB, waiting in the queue while ctx lives and
// at most the gate's wait, and returns the function that lets it out. A hash
// larger than the whole budget (an old hash of a higher cost) runs alone.
// Hasher calls it for every hash; anything else that runs argon2 must too.
func (g *Gate) Enter(ctx context.Context, memoryKiB uint32) (leave func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	n := min(costKiB(memoryKiB), g.budget)
	leave = func() { g.sem.Release(n) }
	if g.sem.TryAcquire(n) {
		return leave, nil
	}
	if g.waiting.Add(1) > g.maxQueue {
		g.waiting.Add(-1)
		return nil, errBusy()
	}
	defer g.waiting.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, g.maxWait)
	defer cancel()
	if err := g.sem.Acquire(ctx, n); err != nil {
		return nil, errBusy().WithCause(err)
	}
	return leave, nil
}
