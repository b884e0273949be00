package httpserver

import (
	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Access is who may call an operation. The auth module turns it into
// middleware, and the OpenAPI document into a security requirement.
type Access string

// The access levels. Root implies operator.
const (
	Public   Access = ""
	User     Access = "user"
	Operator Access = "operator"
	Root     Access = "root"
)

// Operation describes one route once, for Fiber and for the OpenAPI document,
// so the document cannot drift from what is served.
type Operation struct {
	Method string
	// Path in Fiber syntax ("/projects/:project_id"), relative to /v1 unless
	// Unversioned is set (then it is absolute, as for /healthz).
	Path        string
	Unversioned bool
	// ID is the OpenAPI operationId, unique across the API ("getProject").
	ID      string
	Summary string
	Tags    []string
	Access  Access
	// Request is a value of the JSON body type (e.g. CreateProjectRequest{}),
	// nil when the operation takes no body.
	Request any
	// Query is a value of a struct whose fields carry `query:"name"` tags, nil
	// when the operation takes no query parameters.
	Query any
	// Headers lists request headers the operation reads (e.g. Idempotency-Key).
	Headers []Header
	// Responses lists the success responses; errors come from Errors.
	Responses []Response
	// Errors lists the error codes the operation itself may answer (its
	// service's and handler's); each code's kind decides its status. The
	// OpenAPI document adds the codes implied by the operation's shape:
	// internal_error and headers_too_large for every one; invalid_token and
	// service_unavailable when Access is not Public; forbidden for Operator
	// and Root; invalid_json, unsupported_media_type, payload_too_large and
	// validation_error when it takes a Request body; validation_error when it
	// reads query parameters or headers (the NUL check of Register).
	Errors  []derrors.Code
	Handler fiber.Handler
}

// Header is a request header an operation reads.
type Header struct {
	Name        string
	Description string
	Required    bool
}

// Response is one success response of an operation.
type Response struct {
	Status int
	// Body is a value of the JSON body type, nil for no body (204) or when
	// ContentType is not JSON.
	Body        any
	ContentType string // "application/json" when empty and Body is set
	Description string
	// Headers lists response headers this response sends besides
	// X-Request-ID (Content-Range on a 206); Required is ignored.
	Headers []Header
}
