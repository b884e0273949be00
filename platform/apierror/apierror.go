// Package apierror is the HTTP edge of errors: the one table from a domain
// error's kind to a status, the one error envelope
//
//	{"schema_version":1,"error":{"code","message","retryable","details"}}
//
// and Handler, the single fiber ErrorHandler, which writes it and logs the
// cause with the request id. Domain code returns platform/derrors errors and
// never sees a status; the client message and the logged cause are separate
// fields, so internals never reach a response body.
package apierror

import (
	"errors"
	"net/http"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// SchemaVersion is the envelope's version.
const SchemaVersion = 1

// statuses is THE table from a kind to its HTTP status.
var statuses = map[derrors.Kind]int{
	derrors.KindInternal:            http.StatusInternalServerError,
	derrors.KindBadRequest:          http.StatusBadRequest,
	derrors.KindUnauthenticated:     http.StatusUnauthorized,
	derrors.KindForbidden:           http.StatusForbidden,
	derrors.KindNotFound:            http.StatusNotFound,
	derrors.KindMethodNotAllowed:    http.StatusMethodNotAllowed,
	derrors.KindTimeout:             http.StatusRequestTimeout,
	derrors.KindConflict:            http.StatusConflict,
	derrors.KindTooLarge:            http.StatusRequestEntityTooLarge,
	derrors.KindUnsupportedMedia:    http.StatusUnsupportedMediaType,
	derrors.KindInvalid:             http.StatusUnprocessableEntity,
	derrors.KindRateLimited:         http.StatusTooManyRequests,
	derrors.KindHeadersTooLarge:     http.StatusRequestHeaderFieldsTooLarge,
	derrors.KindUnavailable:         http.StatusServiceUnavailable,
	derrors.KindRangeNotSatisfiable: http.StatusRequestedRangeNotSatisfiable,
}

// Status returns the HTTP status of a kind.
func Status(k derrors.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Unavailable is the error of a downstream outage, naming the service.
func Unavailable(service string, cause error) *derrors.Error {
	return derrors.New(derrors.CodeUnavailable, service+" is unavailable, try again shortly").
		WithDetail("service", service).WithCause(cause)
}

// Internal is the error of a bug; its cause is logged, never shown.
func Internal(cause error) *derrors.Error {
	return derrors.New(derrors.CodeInternal, "internal error").WithCause(cause)
}

// From maps any error to a domain error: domain errors pass through, the
// shared categories of platform/derrors (a store's miss, a clash, an outage)
// get their code, and anything else is an internal error.
func From(err error) *derrors.Error {
	var e *derrors.Error
	if errors.As(err, &e) {
		return e
	}
	var unavailable *derrors.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		return Unavailable(unavailable.Service, err)
	case errors.Is(err, derrors.ErrUnavailable):
		return Unavailable("a downstream service", err)
	case errors.Is(err, derrors.ErrNotFound):
		return derrors.New(derrors.CodeNotFound, "not found").WithCause(err)
	case errors.Is(err, derrors.ErrConflict):
		return derrors.New(derrors.CodeConflict, "the request conflicts with existing data").WithCause(err)
	}
	return Internal(err)
}
