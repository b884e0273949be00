// Package apierror is the one error envelope of the API. Every layer returns
// errors; Handler, the single fiber ErrorHandler, turns each into
//
//	{"schema_version":1,"error":{"code","message","retryable","details"}}
//
// and logs the cause with the request id. The client message and the logged
// cause are separate fields, so internals never reach a response body.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// SchemaVersion is the envelope's version.
const SchemaVersion = 1

// Stable error codes. Add more in this style; never rename one.
const (
	CodeInvalidJSON          = "invalid_json"
	CodeInvalidToken         = "invalid_token"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeForbidden            = "forbidden"
	CodeSignupDisabled       = "signup_disabled"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodeEmailTaken           = "email_taken"
	CodeRunFinished          = "run_finished"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeValidation           = "validation_error"
	CodeRateLimited          = "rate_limited"
	CodeQuotaExceeded        = "quota_exceeded"
	CodeHeadersTooLarge      = "headers_too_large"
	CodeInternal             = "internal_error"
	CodeUnavailable          = "service_unavailable"
	CodeNotReady             = "not_ready"
	CodeBadRequest           = "bad_request"
	CodeTimeout              = "request_timeout"
)

// Error is an API error: what the client sees (Status, Code, Message,
// Retryable, Details, Headers) and, apart, the cause for the log (Err).
type Error struct {
	Status    int
	Code      string
	Message   string
	Retryable bool
	Details   map[string]any
	Headers   map[string]string
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d %s): %v", e.Message, e.Status, e.Code, e.Err)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// Unwrap returns the logged cause.
func (e *Error) Unwrap() error { return e.Err }

// New makes an error with a status, a code and a client message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// WithCause keeps err for the log; it never reaches the body.
func (e *Error) WithCause(err error) *Error { e.Err = err; return e }

// WithDetail adds one key to details.
func (e *Error) WithDetail(key string, v any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = v
	return e
}

// WithHeader sets a response header sent with the error.
func (e *Error) WithHeader(key, value string) *Error {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	e.Headers[key] = value
	return e
}

// FieldError is one entry of details.fields in a validation error.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// NotFound says a resource of kind with id does not exist for the caller.
func NotFound(kind, id string) *Error {
	return New(http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s %s not found", kind, id))
}

// Validation is a 422 listing the bad fields.
func Validation(fields ...FieldError) *Error {
	msg := "request validation failed"
	if len(fields) == 1 {
		msg = fmt.Sprintf("invalid %s: %s", fields[0].Field, fields[0].Reason)
	}
	return New(http.StatusUnprocessableEntity, CodeValidation, msg).WithDetail("fields", fields)
}

// InvalidField is a 422 naming one field.
func InvalidField(field, reason string) *Error {
	return Validation(FieldError{Field: field, Reason: reason})
}

// InvalidToken is a 401 asking for a bearer token; cause is logged only.
func InvalidToken(cause error) *Error {
	return New(http.StatusUnauthorized, CodeInvalidToken, "missing or invalid bearer token").
		WithHeader("WWW-Authenticate", `Bearer realm="slipway"`).WithCause(cause)
}

// Forbidden is a 403 naming the group the route needs.
func Forbidden(group string) *Error {
	return New(http.StatusForbidden, CodeForbidden, "this action needs the "+group+" group").
		WithDetail("required_group", group)
}

// Conflict is a 409 with a specific code (conflict, email_taken, run_finished).
func Conflict(code, message string) *Error {
	return New(http.StatusConflict, code, message)
}

// TooManyRequests is a 429 (rate_limited or quota_exceeded) with Retry-After.
func TooManyRequests(code, message string, retryAfter time.Duration) *Error {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	e := New(http.StatusTooManyRequests, code, message).WithHeader("Retry-After", strconv.Itoa(secs))
	e.Retryable = true
	return e.WithDetail("retry_after_seconds", secs)
}

// Unavailable is a 503 naming the downstream service; retryable.
func Unavailable(service string, cause error) *Error {
	e := New(http.StatusServiceUnavailable, CodeUnavailable, service+" is unavailable, try again shortly").
		WithDetail("service", service).WithCause(cause)
	e.Retryable = true
	return e
}

// Internal is a 500 that hides its cause from the client.
func Internal(cause error) *Error {
	return New(http.StatusInternalServerError, CodeInternal, "internal error").WithCause(cause)
}

// From maps any error to an *Error: API errors pass through, the shared
// categories of platform/derrors map by the table below, anything else is a 500.
func From(err error) *Error {
	var e *Error
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
		return New(http.StatusNotFound, CodeNotFound, "not found").WithCause(err)
	case errors.Is(err, derrors.ErrConflict):
		return Conflict(CodeConflict, "the request conflicts with existing data").WithCause(err)
	}
	return Internal(err)
}
