package derrors

import (
	"errors"
	"fmt"
)

// ErrMissingParent is the cause of the conflict a store returns for a write
// whose parent record does not exist: PostgreSQL's foreign key violation and
// the JSON store's References index both refuse it with MissingParent. The
// parent was deleted after the caller looked, or never existed.
var ErrMissingParent = errors.New("parent record does not exist")

// MissingParent reports a write refused because the record that the field
// what ("repositories.project_id") refers to does not exist; err is the
// driver's error, or nil. It is a *ConflictError, so it matches ErrConflict,
// and it matches ErrMissingParent.
func MissingParent(what string, err error) error {
	cause := ErrMissingParent
	if err != nil {
		cause = fmt.Errorf("%w: %w", ErrMissingParent, err)
	}
	return &ConflictError{What: what, Err: cause}
}
