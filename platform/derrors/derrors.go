// Package derrors holds the few error categories every layer shares. Stores,
// runtimes and clients wrap their failures in one of these; platform/apierror
// maps each category to an HTTP status and code in one table, so no store or
// client needs to know about HTTP.
package derrors

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the record or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write clashes with existing state, such as a unique key.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a downstream service could not be reached; a retry may work.
	ErrUnavailable = errors.New("service unavailable")
)

// UnavailableError says which downstream service failed, keeping the cause for
// the log. It matches ErrUnavailable with errors.Is.
type UnavailableError struct {
	Service string // "postgres", "s3", "docker", "cognito", ...
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s unavailable: %v", e.Service, e.Err)
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable wraps err as an outage of service.
func Unavailable(service string, err error) error {
	return &UnavailableError{Service: service, Err: err}
}

// ConflictError names what clashed (an index or a state), keeping the cause.
// It matches ErrConflict with errors.Is.
type ConflictError struct {
	What string // e.g. "users.email"
	Err  error
}

func (e *ConflictError) Error() string {
	if e.Err == nil {
		return "conflict on " + e.What
	}
	return fmt.Sprintf("conflict on %s: %v", e.What, e.Err)
}

// Unwrap returns the cause.
func (e *ConflictError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Conflict reports a clash on what (an index name such as "users.email").
func Conflict(what string, err error) error { return &ConflictError{What: what, Err: err} }

// Wrap prefixes a non-nil *errp with the operation, for one-line deferred
// wrapping: defer derrors.Wrap(&err, "projects.Get(%q)", id).
func Wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
