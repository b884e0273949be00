package derrors

import (
	"errors"
	"fmt"
	"time"
)

// Kind is a category of failure. The HTTP edge (platform/apierror) maps each
// kind to one status in one table; nothing else knows statuses.
type Kind uint8

// The kinds. KindInternal is the zero value, so an unclassified error is a bug.
const (
	KindInternal            Kind = iota
	KindBadRequest               // the request could not be read (not JSON, malformed)
	KindUnauthenticated          // no valid credentials
	KindForbidden                // authenticated, but not allowed
	KindNotFound                 // absent, or hidden from the caller
	KindMethodNotAllowed         // a known resource, a wrong method
	KindTimeout                  // the client was too slow sending its request
	KindConflict                 // clashes with the current state
	KindTooLarge                 // the body is over the limit
	KindUnsupportedMedia         // the body is not of an accepted media type
	KindInvalid                  // well-formed but invalid values
	KindRateLimited              // too many requests or over a quota; retry later
	KindHeadersTooLarge          // the request headers are over the limit
	KindUnavailable              // a downstream service is down; retry later
	KindRangeNotSatisfiable      // a byte range that does not overlap the resource
)

var kindNames = [...]string{
	KindInternal: "internal", KindBadRequest: "bad_request", KindUnauthenticated: "unauthenticated",
	KindForbidden: "forbidden", KindNotFound: "not_found", KindMethodNotAllowed: "method_not_allowed",
	KindTimeout: "timeout", KindConflict: "conflict", KindTooLarge: "too_large",
	KindUnsupportedMedia: "unsupported_media", KindInvalid: "invalid", KindRateLimited: "rate_limited",
	KindHeadersTooLarge: "headers_too_large", KindUnavailable: "unavailable",
	KindRangeNotSatisfiable: "range_not_satisfiable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Retryable reports whether the same request may succeed later unchanged.
func (k Kind) Retryable() bool { return k == KindRateLimited || k == KindUnavailable }

// Code is a stable, machine-readable error code. Each code always has the
// same kind, so a client can branch on the code alone and the API document
// can list, per operation, the codes it may return under each status.
type Code struct {
	name string
	kind Kind
}

// NewCode declares a code. Codes are declared once, as package variables,
// and never renamed: clients branch on them.
func NewCode(name string, kind Kind) Code { return Code{name: name, kind: kind} }

// String returns the code as the client sees it.
func (c Code) String() string { return c.name }

// Kind returns the kind every error with this code has.
func (c Code) Kind() Kind { return c.kind }

// The stable codes of api.md. Add more in this style; never rename one.
var (
	CodeInvalidJSON          = NewCode("invalid_json", KindBadRequest)
	CodeBadRequest           = NewCode("bad_request", KindBadRequest)
	CodeInvalidToken         = NewCode("invalid_token", KindUnauthenticated)
	CodeInvalidCredentials   = NewCode("invalid_credentials", KindUnauthenticated)
	CodeForbidden            = NewCode("forbidden", KindForbidden)
	CodeSignupDisabled       = NewCode("signup_disabled", KindForbidden)
	CodeNotFound             = NewCode("not_found", KindNotFound)
	CodeMethodNotAllowed     = NewCode("method_not_allowed", KindMethodNotAllowed)
	CodeTimeout              = NewCode("request_timeout", KindTimeout)
	CodeConflict             = NewCode("conflict", KindConflict)
	CodeEmailTaken           = NewCode("email_taken", KindConflict)
	CodeRunFinished          = NewCode("run_finished", KindConflict)
	CodePayloadTooLarge      = NewCode("payload_too_large", KindTooLarge)
	CodeUnsupportedMediaType = NewCode("unsupported_media_type", KindUnsupportedMedia)
	CodeValidation           = NewCode("validation_error", KindInvalid)
	CodeRateLimited          = NewCode("rate_limited", KindRateLimited)
	CodeQuotaExceeded        = NewCode("quota_exceeded", KindRateLimited)
	CodeHeadersTooLarge      = NewCode("headers_too_large", KindHeadersTooLarge)
	CodeInternal             = NewCode("internal_error", KindInternal)
	CodeUnavailable          = NewCode("service_unavailable", KindUnavailable)
	CodeNotReady             = NewCode("not_ready", KindUnavailable)
	CodeRangeNotSatisfiable  = NewCode("range_not_satisfiable", KindRangeNotSatisfiable)
)

// Error is a domain error: a code (and so a kind), a message for the caller,
// details for a program, and apart from them the cause, which is logged and
// never shown.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	// RetryAfter, when set, tells the caller when to try again.
	RetryAfter time.Duration
	Err        error
}

// New makes an error with a code and a message for the caller.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%s): %v", e.Message, e.Code.name, e.Err)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code.name)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's kind, so errors.Is(err, ErrNotFound)
// holds for a store's miss and a service's not found alike.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code.kind == KindNotFound
	case ErrConflict:
		return e.Code.kind == KindConflict
	case ErrUnavailable:
		return e.Code.kind == KindUnavailable
	}
	return false
}

// WithCause keeps err for the log; it never reaches the caller.
func (e *Error) WithCause(err error) *Error { e.Err = err; return e }

// WithDetail adds one key to the details.
func (e *Error) WithDetail(key string, v any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = v
	return e
}

// FieldError is one entry of details.fields in a validation error.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// NotFound says a resource of kind with id does not exist for the caller.
func NotFound(kind, id string) *Error {
	return New(CodeNotFound, fmt.Sprintf("%s %s not found", kind, id))
}

// Validation lists the invalid fields of a request.
func Validation(fields ...FieldError) *Error {
	msg := "request validation failed"
	if len(fields) == 1 {
		msg = fmt.Sprintf("invalid %s: %s", fields[0].Field, fields[0].Reason)
	}
	return New(CodeValidation, msg).WithDetail("fields", fields)
}

// InvalidField is a validation error naming one field.
func InvalidField(field, reason string) *Error {
	return Validation(FieldError{Field: field, Reason: reason})
}

// Forbidden says the caller lacks group.
func Forbidden(group string) *Error {
	return New(CodeForbidden, "this action needs the "+group+" group").WithDetail("required_group", group)
}

// TooMany says the caller must wait retryAfter (code: rate_limited or quota_exceeded).
func TooMany(code Code, message string, retryAfter time.Duration) *Error {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	e := New(code, message).WithDetail("retry_after_seconds", secs)
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// RangeNotSatisfiable says a Range request asked for bytes a resource of
// size bytes does not have; details.size carries the size.
func RangeNotSatisfiable(kind string, size int64) *Error {
	return New(CodeRangeNotSatisfiable, fmt.Sprintf("the range asks for bytes the %s (%d bytes) does not have", kind, size)).
		WithDetail("size", size)
}

// KindOf returns the kind of any error: a domain error's own, the kind of the
// shared sentinels and store errors, and KindInternal for anything else.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return KindInternal
	case errors.As(err, &e):
		return e.Code.kind
	case errors.Is(err, ErrUnavailable):
		return KindUnavailable
	case errors.Is(err, ErrNotFound):
		return KindNotFound
	case errors.Is(err, ErrConflict):
		return KindConflict
	}
	return KindInternal
}
