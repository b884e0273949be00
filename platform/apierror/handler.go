package apierror

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
)

// RequestIDKey is the fiber.Ctx local holding the request id.
const RequestIDKey = "request_id"

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

// Envelope builds the wire body of e; exported for handlers that must write an
// error outside the error path (none should) and for tests.
func Envelope(e *Error) any {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return envelope{SchemaVersion, body{e.Code, e.Message, e.Retryable, d}}
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
		id := requestID(c)
		for k, v := range e.Headers {
			c.Set(k, v)
		}
		if e.Status >= 500 {
			fields := []zap.Field{
				zap.String("request_id", id),
				zap.Int("status", e.Status),
				zap.String("code", e.Code),
				zap.String("method", c.Method()),
				zap.String("path", c.Path()),
			}
			if e.Err != nil {
				fields = append(fields, zap.NamedError("cause", e.Err))
			}
			log.Error("request failed", fields...)
		} else if e.Err != nil {
			log.Debug("request rejected", zap.String("request_id", id),
				zap.Int("status", e.Status), zap.String("code", e.Code), zap.NamedError("cause", e.Err))
		}
		// Clear whatever a handler may have started writing (a streamed body).
		c.Response().ResetBody()
		return c.Status(e.Status).JSON(Envelope(e))
	}
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(RequestIDKey).(string)
	if id == "" {
		// Errors raised before any middleware ran (413, 431 from fasthttp)
		// still get an id, in the header and the log line.
		id = NewRequestID()
		SetRequestID(c, id)
	}
	return id
}

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-ID"

// SetRequestID stores id for the log and echoes it on the response.
func SetRequestID(c *fiber.Ctx, id string) {
	c.Locals(RequestIDKey, id)
	c.Set(HeaderRequestID, id)
}

// NewRequestID makes a fresh random request id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fromFiber maps fiber's and fasthttp's own errors before the general table.
func fromFiber(c *fiber.Ctx, err error, opts HandlerOptions) *Error {
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return From(err)
	}
	switch fe.Code {
	case http.StatusNotFound:
		return New(http.StatusNotFound, CodeNotFound, "no route for "+c.Method()+" "+c.Path())
	case http.StatusMethodNotAllowed:
		e := New(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+c.Method()+" is not allowed on "+c.Path())
		if opts.Allow != nil {
			if methods := opts.Allow(c.Path()); len(methods) > 0 {
				e.WithHeader("Allow", strings.Join(methods, ", ")).WithDetail("allow", methods)
			}
		}
		return e
	case http.StatusRequestEntityTooLarge:
		return New(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is larger than the server accepts")
	case http.StatusRequestHeaderFieldsTooLarge:
		return New(http.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge, "request headers are larger than the server accepts")
	case http.StatusRequestTimeout:
		return New(http.StatusRequestTimeout, CodeTimeout, "request timed out")
	case http.StatusUnsupportedMediaType:
		return New(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "request body must be application/json")
	case http.StatusBadRequest:
		return New(http.StatusBadRequest, CodeBadRequest, "malformed request").WithCause(err)
	}
	if fe.Code >= 500 {
		return Internal(err)
	}
	return New(fe.Code, strings.ReplaceAll(strings.ToLower(http.StatusText(fe.Code)), " ", "_"), fe.Message)
}
