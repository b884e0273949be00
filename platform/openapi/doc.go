// Package openapi builds the OpenAPI 3.1 document of Slipway's HTTP API from
// the []httpserver.Operation the server registers, so the document cannot
// drift from the routes, and serves a page that renders it with Swagger UI
// vendored into the binary (no CDN: the page works with no internet access).
//
// # The document
//
// Build is deterministic: the same operations give the same bytes. Paths,
// responses and components are JSON objects with sorted keys; properties keep
// the order of the struct fields; parameters come in the order path, query,
// headers.
//
//   - Fiber paths become OpenAPI templates ("/projects/:project_id" becomes
//     "/v1/projects/{project_id}"), each parameter a required string. Optional
//     parameters (":id?"), wildcards ("*", "+") and escapes are refused, as
//     OpenAPI cannot say them.
//   - Every operation answers its Responses and the error codes of its Errors,
//     with those its shape implies (see httpserver.Operation.Errors: the
//     guard's, the body decoder's, internal_error and headers_too_large). A
//     code's kind gives its status (apierror.Status). Each error status has
//     the envelope {schema_version, error} as body, where error is the object
//     of the one code of that status or, for several, one of their objects
//     (oneOf with a discriminator on code, and code an enum of exactly those
//     codes). Each code's object is a component named after it
//     (validation_error: ValidationError), its code an enum of that one value
//     and its details typed per code (validation_error's fields are
//     FieldError objects), so a generated client can narrow on code. Every
//     response declares the X-Request-ID header.
//   - Operations with Access other than Public require the bearerAuth scheme
//     (HTTP bearer, JWT) and say in their description which group they need;
//     public ones say security: [] explicitly. The one server is "/", the
//     origin that serves the document, as paths are absolute. Tags get the
//     descriptions Info.Tags gives them.
//   - Build fails on duplicate operation IDs, on two operations with the same
//     method and path template, and on struct tags it cannot read, so a
//     mistake shows in a test rather than in a wrong document.
//
// # Schemas by reflection
//
// Request bodies, response bodies and query structs are read from the Go
// types of the values in the Operation, following encoding/json:
//
//   - A field's name is its `json` tag name, else the Go field name; fields
//     tagged `json:"-"` and unexported fields are skipped; embedded structs
//     without a tag name are flattened, with encoding/json's rules when two
//     fields claim the same name.
//   - A field is required unless its tag has omitempty or omitzero, its type is
//     a pointer, or it is promoted from an embedded pointer (which
//     encoding/json leaves out when nil).
//   - In response bodies a pointer may be null: its schema gets "null" among
//     its types (`type: [string, "null"]`, and null in its enum), or is
//     `anyOf: [{$ref}, {type: "null"}]` for a struct. In request bodies a
//     pointer only means optional.
//   - Request body objects, nested ones included, have
//     `additionalProperties: false`: the server rejects unknown fields.
//   - Named struct types become #/components/schemas/<TypeName> and are reused
//     by $ref; anonymous structs are inlined. A type used in request bodies and
//     in responses gets two schemas, the request one named <TypeName>Input.
//     When two types share a name, each is prefixed with its package's last
//     path elements until the names differ ("ProjectsItem", "RunsItem"); a
//     generic type is named after its type arguments ("PageProject").
//   - time.Time is a string with format date-time; []byte a base64 string;
//     other slices and arrays are arrays; maps are objects with
//     additionalProperties; json.RawMessage, interfaces and other
//     json.Marshaler types accept any value; encoding.TextMarshaler types are
//     strings; a `json:",string"` field is a string. Slices and maps are never
//     null in the document: handlers return empty collections, not nil ones.
//
// Struct tags add constraints, on body fields and query fields alike:
//
//	doc:"text"              the description
//	minLength, maxLength    string length; on a slice, minItems and maxItems
//	minimum, maximum        numeric bounds
//	pattern:"^re$"          a regular expression for strings
//	enum:"a,b,c"            allowed values, parsed as the field's type
//	format:"email"          a string format (email, uri, date-time, ...)
//	example:"..."           an example value
//	default:"20"            the default value
//
// On a slice, enum, format, pattern, minimum and maximum constrain the
// elements. Example and default are taken as a string for string fields and
// as JSON otherwise.
//
// A query struct describes query parameters: every exported field needs a
// `query:"name"` tag (`query:"-"` skips it), since Fiber's QueryParser would
// otherwise bind it under its Go name unseen by the document. A parameter is
// optional unless its tag says `query:"name,required"` or it has
// `required:"true"`; its doc tag becomes the parameter's description.
//
// # The docs page
//
// Mount serves the page and its assets; DocsHandler, AssetsHandler and
// SpecHandler are the pieces, for a caller that registers routes itself.
// The page loads only same-origin files, runs no inline script and sends
// DocsCSP as its Content-Security-Policy.
package openapi
