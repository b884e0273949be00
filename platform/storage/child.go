package storage

import (
	"errors"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// CreateChild runs create, a store's insert of a record that belongs to the
// parent of kind parentKind and id parentID, and turns the store's refusal
// because that parent does not exist into derrors.NotFound(parentKind,
// parentID), keeping the store's error as the cause. Any other error, or
// nil, is returned as it is.
//
// Both backends refuse such an insert atomically (PostgreSQL's foreign key,
// the JSON store's References index, checked under its one writer), so a
// parent deleted after the service's access check, even while the insert
// runs, fails the insert instead of leaving an orphan: there is nothing to
// check again and nothing to clean up.
//
//	err := storage.CreateChild("project", projectID, func() error { return s.store.Create(ctx, w) })
func CreateChild(parentKind, parentID string, create func() error) error {
	err := create()
	if errors.Is(err, derrors.ErrMissingParent) {
		return derrors.NotFound(parentKind, parentID).WithCause(err)
	}
	return err
}
