package storage

import (
	"fmt"

	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

// Select returns a domain's store on the records backend r opened: the
// JSON store's from newJSON, PostgreSQL's from newPostgres. A module's
// NewStore is one call to it, so the choice of backend is made here and
// nowhere else:
//
//	func NewStore(r *storage.Records) (Store, error) {
//		return storage.Select(r, newJSONStore, newPostgresStore)
//	}
//
// Both constructors are plain Go without I/O. newJSON registers its
// collections (and builds their indexes from what is on disk), which can
// fail; newPostgres cannot.
func Select[S any](r *Records, newJSON func(*jsonstore.Store) (S, error), newPostgres func(*bun.DB) S) (S, error) {
	switch {
	case r.JSON != nil:
		return newJSON(r.JSON)
	case r.DB != nil:
		return newPostgres(r.DB), nil
	}
	var zero S
	return zero, fmt.Errorf("no store for records backend %q", r.Backend)
}
