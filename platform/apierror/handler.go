package apierror

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
)

// envelope is the wire form of every error body.
type envelope struct {
	SchemaVersion int  `json:"schema_version"`
	Error         body `json:"error"`
}

type body struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Retryable bool           `json:"retryable"`
	Details   map[string]any `json:"details"`
}

// Envelope builds the wire body of e, for the handler and for the few
// answers written outside Fiber's error path (an unknown method, which
// fasthttp refuses before any handler runs).
func Envelope(e *derrors.Error) any {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return envelope{SchemaVersion, body{e.Code.String(), e.Message, e.Code.Kind().Retryable(), d}}
}

// Headers returns the response headers an error carries, derived from its
// kind and details: WWW-Authenticate on a bad token, Retry-After when the
// caller must wait, Allow on a wrong method.
func Headers(e *derrors.Error) map[string]string {
	h := map[string]string{}
	if e.Code == derrors.CodeInvalidToken {
		h["WWW-Authenticate"] = `Bearer realm="slipway"`
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + 999_999_999) / 1e9)
		h["Retry-After"] = strconv.Itoa(secs)
	}
	if allow, ok := e.Details["allow"].([]string); ok && len(allow) > 0 {
		h["Allow"] = strings.Join(allow, ", ")
	}
	if size, ok := e.Details["size"].(int64); ok && e.Code.Kind() == derrors.KindRangeNotSatisfiable {
		h["Content-Range"] = "bytes */" + strconv.FormatInt(size, 10)
	}
	return h
}

// HandlerOptions tunes the error handler.
type HandlerOptions struct {
	// Allow returns the methods served at path, for the Allow header of a 405.
	Allow func(path string) []string
}

// Handler is the one fiber ErrorHandler: it converts any error, including
// Fiber's own (404, 405, 413, 431 …), into the envelope and logs 5xx causes.
func Handler(log *zap.Logger, opts HandlerOptions) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e := fromFiber(c, err, opts)
		status := Status(e.Code.Kind())
		// Errors raised before any middleware ran (413, 431 from fasthttp)
		// still get an id, in the header and the log line.
		id := middleware.EnsureRequestID(c)
		for k, v := range Headers(e) {
			c.Set(k, v)
		}
		if status >= 500 {
			fields := []zap.Field{
				zap.String("request_id", id),
				zap.Int("status", status),
				zap.String("code", e.Code.String()),
				zap.String("method", c.Method()),
				zap.String("path", c.Path()),
			}
			if e.Err != nil {
				fields = append(fields, zap.NamedError("cause", e.Err))
			}
			log.Error("request failed", fields...)
		} else if e.Err != nil {
			log.Debug("request rejected", zap.String("request_id", id),
				zap.Int("status", status), zap.String("code", e.Code.String()), zap.NamedError("cause", e.Err))
		}
		// Clear whatever a handler may have started writing (a streamed body).
		c.Response().ResetBody()
		return c.Status(status).JSON(Envelope(e))
	}
}

// fromFiber maps fiber's and fasthttp's own errors before the general table.
func fromFiber(c *fiber.Ctx, err error, opts HandlerOptions) *derrors.Error {
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return From(err)
	}
	switch fe.Code {
	case http.StatusNotFound:
		return derrors.New(derrors.CodeNotFound, "no route for "+c.Method()+" "+c.Path())
	case http.StatusMethodNotAllowed:
		e := derrors.New(derrors.CodeMethodNotAllowed, "method "+c.Method()+" is not allowed on "+c.Path())
		if opts.Allow != nil {
			if methods := opts.Allow(c.Path()); len(methods) > 0 {
				e.WithDetail("allow", methods)
			}
		}
		return e
	case http.StatusRequestEntityTooLarge:
		return derrors.New(derrors.CodePayloadTooLarge, "request body is larger than the server accepts")
	case http.StatusRequestHeaderFieldsTooLarge:
		return derrors.New(derrors.CodeHeadersTooLarge, "request headers are larger than the server accepts")
	case http.StatusRequestTimeout:
		return derrors.New(derrors.CodeTimeout, "request timed out")
	case http.StatusUnsupportedMediaType:
		return derrors.New(derrors.CodeUnsupportedMediaType, "request body must be application/json")
	case http.StatusTooManyRequests:
		return derrors.New(derrors.CodeRateLimited, "too many requests")
	case http.StatusUnprocessableEntity:
		return derrors.New(derrors.CodeValidation, fe.Message)
	}
	if fe.Code >= 500 {
		return Internal(err)
	}
	// Any other 4xx Fiber raises is a request we could not read.
	return derrors.New(derrors.CodeBadRequest, "malformed request").WithCause(err)
}
