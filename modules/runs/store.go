package runs

import (
	"context"
	"errors"
	"time"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// ErrQuotaExceeded is returned by Store.Create when the owner already has
// the maximum of active runs.
var ErrQuotaExceeded = errors.New("active run quota exceeded")

// Filter narrows List; empty fields do not filter.
type Filter struct {
	OwnerID      string
	ProjectID    string
	RepositoryID string
	Status       Status
}

// Store keeps runs and instances. Implementations: store_json.go,
// store_postgres.go; both pass the contract suite in storetest.
type Store interface {
	// Create inserts run in one transaction with two checks. When
	// run.IdempotencyKey is set and the owner already has a run with that
	// key, nothing is written and that run is returned. Otherwise, when the
	// owner already has maxActive active runs, it fails with
	// ErrQuotaExceeded; no interleaving of Creates lets an owner exceed it.
	// A run whose repository or project does not exist (deleted meanwhile)
	// is refused with derrors.MissingParent.
	Create(ctx context.Context, run *Run, maxActive int) (existing *Run, err error)
	// Get returns the run or derrors.ErrNotFound.
	Get(ctx context.Context, id string) (*Run, error)
	// Update applies fn atomically to the current record; fn's error aborts
	// it and is returned. derrors.ErrNotFound when absent.
	Update(ctx context.Context, id string, fn func(*Run) error) (*Run, error)
	// ClaimNext claims the oldest queued run for instanceID: it sets the
	// run preparing and claimed by instanceID in one atomic step and
	// returns it, or returns nil when no run is queued. Concurrent claims
	// never return the same run, and a claim never waits for another in
	// progress: it takes the next run instead (the postgres queue).
	ClaimNext(ctx context.Context, instanceID string) (*Run, error)
	// List pages by (created_at, id) through the runs matching f.
	List(ctx context.Context, f Filter, req page.Request) (page.Result[Run], error)
	// ListStatus returns every run in one of statuses, oldest first.
	ListStatus(ctx context.Context, statuses ...Status) ([]Run, error)
	// RepositoryIDs returns the distinct repositories that have runs.
	RepositoryIDs(ctx context.Context) ([]string, error)
	// DeleteRepositoryRuns removes every run of a repository and records
	// their ids as deleted; it returns how many it removed.
	DeleteRepositoryRuns(ctx context.Context, repositoryID string) (int, error)
	// ExpireKeys forgets Idempotency-Keys, with their request hashes, so
	// that they name no run any more: the keys of runs created before
	// before, and, when keep > 0, every key of ownerID but the keep newest.
	// ownerID "" means every owner (keep is then ignored). The runs stay.
	// It returns how many keys it forgot.
	ExpireKeys(ctx context.Context, ownerID string, before time.Time, keep int) (int, error)
	// Deleted returns up to limit ids of runs deleted (also by a cascade
	// from their project or repository, on both backends) whose objects are
	// still to be removed; Forget drops ids once that is done.
	Deleted(ctx context.Context, limit int) ([]string, error)
	Forget(ctx context.Context, ids []string) error

	// PutInstance inserts or replaces an instance record.
	PutInstance(ctx context.Context, in *Instance) error
	// Instances returns every instance record.
	Instances(ctx context.Context) ([]Instance, error)
	// DeleteInstance removes an instance record; absent is not an error.
	DeleteInstance(ctx context.Context, id string) error
}
