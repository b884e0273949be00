package openapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/slipwayhq/slipway/platform/apierror"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// FieldErrorSchema is the component schema of one entry of
// details.fields in a validation_error.
const FieldErrorSchema = "FieldError"

// discriminator is OpenAPI's hint naming the property that tells the
// schemas of a oneOf apart.
type discriminator struct {
	PropertyName string            `json:"propertyName"`
	Mapping      map[string]string `json:"mapping,omitempty"`
}

// impliedCodes are the codes an operation may answer because of its shape,
// whatever its handler does: the recover middleware's internal_error and
// fasthttp's headers_too_large for every request; the guard's invalid_token,
// and service_unavailable when the user store or the token keys are down, for
// authenticated operations; the group check's forbidden for operator and root
// operations; httpserver.Decode's codes, and Fiber's body limit, for
// operations with a body; and the NUL check's validation_error for those
// that read query parameters or headers.
func impliedCodes(op httpserver.Operation) []derrors.Code {
	codes := []derrors.Code{derrors.CodeInternal, derrors.CodeHeadersTooLarge}
	if op.Access != httpserver.Public {
		codes = append(codes, derrors.CodeInvalidToken, derrors.CodeUnavailable)
	}
	if op.Access == httpserver.Operator || op.Access == httpserver.Root {
		codes = append(codes, derrors.CodeForbidden)
	}
	if op.Request != nil {
		codes = append(codes, derrors.CodeInvalidJSON, derrors.CodeUnsupportedMediaType,
			derrors.CodePayloadTooLarge, derrors.CodeValidation)
	}
	if op.Query != nil || len(op.Headers) > 0 {
		codes = append(codes, derrors.CodeValidation)
	}
	return codes
}

// codesByStatus groups an operation's codes, its own and the implied ones,
// by HTTP status, each group sorted by name and without repeats.
func codesByStatus(op httpserver.Operation) (map[int][]derrors.Code, error) {
	byName := map[string]derrors.Code{}
	for _, c := range append(slices.Clone(op.Errors), impliedCodes(op)...) {
		if c.String() == "" {
			return nil, errors.New("error code with no name")
		}
		if other, ok := byName[c.String()]; ok && other != c {
			return nil, fmt.Errorf("error code %s declared with kinds %s and %s", c, other.Kind(), c.Kind())
		}
		byName[c.String()] = c
	}
	out := map[int][]derrors.Code{}
	for _, c := range byName {
		status := apierror.Status(c.Kind())
		if status < 400 || status > 599 {
			return nil, fmt.Errorf("error code %s has status %d, not 4xx or 5xx", c, status)
		}
		out[status] = append(out[status], c)
	}
	for _, codes := range out {
		slices.SortFunc(codes, func(a, b derrors.Code) int { return cmp.Compare(a.String(), b.String()) })
	}
	return out, nil
}

// errorComponentName is the component schema of the error object with code
// c: "validation_error" is ValidationError, "not_found" NotFoundError.
func errorComponentName(c derrors.Code) string {
	name := camel(c.String())
	if !strings.HasSuffix(name, "Error") {
		name += "Error"
	}
	return name
}

func errorRef(c derrors.Code) *schema {
	return &schema{Ref: "#/components/schemas/" + errorComponentName(c)}
}

// codeDescriptions say when each code is answered (api.md's table).
var codeDescriptions = map[string]string{
	derrors.CodeInvalidJSON.String():          "The body is not valid JSON, or not one JSON object.",
	derrors.CodeBadRequest.String():           "The request could not be read as HTTP.",
	derrors.CodeInvalidToken.String():         "The bearer token is missing, malformed, badly signed or expired, or its user is disabled or deleted; sent with `WWW-Authenticate: Bearer`.",
	derrors.CodeInvalidCredentials.String():   "Wrong email or password (one answer for both).",
	derrors.CodeForbidden.String():            "The caller lacks the group the action needs; `details.required_group` names it.",
	derrors.CodeSignupDisabled.String():       "Sign-up is turned off on this server.",
	derrors.CodeNotFound.String():             "No such resource, or one the caller may not see; the message names the kind and id.",
	derrors.CodeMethodNotAllowed.String():     "The path does not support this method; `Allow` lists those it does.",
	derrors.CodeTimeout.String():              "The client was too slow sending its request.",
	derrors.CodeConflict.String():             "The request conflicts with the current state.",
	derrors.CodeEmailTaken.String():           "An account with this email already exists.",
	derrors.CodeRunFinished.String():          "The run has already finished; `details.status` is its final status.",
	derrors.CodePayloadTooLarge.String():      "The body is over the server's limit.",
	derrors.CodeUnsupportedMediaType.String(): "The body is not `application/json`.",
	derrors.CodeValidation.String():           "Well-formed but invalid; `details.fields` lists each bad field with the reason. No text may hold NUL (U+0000): a string anywhere in the body (named by its JSON path, such as `notes[1].text`), a query parameter or a header holding one is refused.",
	derrors.CodeRateLimited.String():          "Too many requests; retry after `Retry-After` seconds (also `details.retry_after_seconds`).",
	derrors.CodeQuotaExceeded.String():        "Over a quota; retry after `Retry-After` seconds (also `details.retry_after_seconds`).",
	derrors.CodeHeadersTooLarge.String():      "The request headers are over the server's limit.",
	derrors.CodeInternal.String():             "An unexpected error; the body holds no internal detail, the log has the cause under the request id.",
	derrors.CodeUnavailable.String():          "A service the server depends on is down, or the server is at capacity; `details.service` names it. Retryable, after `Retry-After` seconds when sent.",
	derrors.CodeNotReady.String():             "A readiness check fails; `details.failed` names the checks.",
	derrors.CodeRangeNotSatisfiable.String():  "The `Range` asks for bytes the resource does not have; `details.size` and `Content-Range: bytes */size` give its length.",
}

func objectSchema(props *properties, required ...string) *schema {
	return &schema{Type: "object", Properties: props, Required: required}
}

func intPtr(n int) *int { return &n }

// detailsSchema is the schema of error.details for code c. Codes without
// details have an empty object.
func detailsSchema(c derrors.Code) *schema {
	p := &properties{}
	var required []string
	switch c {
	case derrors.CodeValidation:
		p.add("fields", &schema{Type: "array", MinItems: intPtr(1),
			Items: &schema{Ref: "#/components/schemas/" + FieldErrorSchema}})
		required = []string{"fields"}
	case derrors.CodeForbidden:
		p.add("required_group", &schema{Type: "string", Description: "The group the action needs.", Examples: []json.RawMessage{json.RawMessage(`"operator"`)}})
		required = []string{"required_group"}
	case derrors.CodeRateLimited, derrors.CodeQuotaExceeded:
		p.add("retry_after_seconds", &schema{Type: "integer", Minimum: "1", Description: "Seconds to wait, as in `Retry-After`."})
		required = []string{"retry_after_seconds"}
		p.add("limit", &schema{Type: "integer", Minimum: "0", Description: "The quota or cap: how many the caller may have at once (runs, log streams)."})
	case derrors.CodeUnavailable:
		p.add("service", &schema{Type: "string", Description: "The service that is down (postgres, s3, docker, cognito, dns, disk when the JSON store's disk refuses writes, …), or password_hashing when the server is checking as many passwords as its memory budget allows.", Examples: []json.RawMessage{json.RawMessage(`"postgres"`)}})
		required = []string{"service"}
	case derrors.CodeMethodNotAllowed:
		p.add("allow", &schema{Type: "array", Items: &schema{Type: "string"}, Description: "The methods the path supports, as in `Allow`."})
	case derrors.CodeNotReady:
		p.add("failed", &schema{Type: "array", Items: &schema{Type: "string"}, Description: "The required checks that fail."})
		p.add("checks", &schema{Type: "object", AdditionalProperties: &schema{Type: "string"}, Description: "Every check and its state: ok or failing."})
		required = []string{"failed", "checks"}
	case derrors.CodeNotFound:
		p.add("status", &schema{Type: "string", Description: "For a run's patch asked for before the run finished: the run's status."})
	case derrors.CodeConflict:
		p.add("run_id", &schema{Type: "string", Description: "For an Idempotency-Key used with another body: the run it made."})
	case derrors.CodeRunFinished:
		p.add("status", &schema{Type: "string", Description: "The run's final status."})
		required = []string{"status"}
	case derrors.CodeRangeNotSatisfiable:
		p.add("size", &schema{Type: "integer", Minimum: "0", Description: "The resource's length in bytes."})
		required = []string{"size"}
	default:
		return &schema{Type: "object", Description: "Empty for this code."}
	}
	return objectSchema(p, required...)
}

// errorComponent is the schema of the error object with code c: its code is
// an enum of that one value, so generated clients can tell the objects apart
// by code and type details per code.
func errorComponent(c derrors.Code) *schema {
	p := &properties{}
	p.add("code", &schema{Type: "string", Enum: []json.RawMessage{mustJSON(c.String())}})
	p.add("message", &schema{Type: "string", Description: "A human-readable message; not for parsing."})
	// A code's kind decides whether it is retryable (apierror.Envelope).
	p.add("retryable", &schema{Type: "boolean", Const: mustJSON(c.Kind().Retryable()),
		Description: "Whether the same request may succeed later; fixed for each code."})
	p.add("details", detailsSchema(c))
	s := objectSchema(p, "code", "message", "retryable", "details")
	s.Description = codeDescriptions[c.String()]
	return s
}

func fieldErrorComponent() *schema {
	p := &properties{}
	p.add("field", &schema{Type: "string", Description: "The JSON field, query parameter or header at fault.", Examples: []json.RawMessage{json.RawMessage(`"name"`)}})
	p.add("reason", &schema{Type: "string", Description: "What is wrong with it.", Examples: []json.RawMessage{json.RawMessage(`"must not be empty"`)}})
	return objectSchema(p, "field", "reason")
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// errorResponse is the response of one error status: the envelope, whose
// error is one of the objects of codes, and the headers api.md promises.
func errorResponse(status int, codes []derrors.Code) *response {
	var desc strings.Builder
	desc.WriteString(http.StatusText(status))
	if desc.Len() == 0 {
		desc.WriteString("Error " + strconv.Itoa(status))
	}
	desc.WriteString(".")
	for _, c := range codes {
		fmt.Fprintf(&desc, " `%s`: %s", c, codeDescriptions[c.String()])
	}

	var errSchema *schema
	if len(codes) == 1 {
		errSchema = errorRef(codes[0])
	} else {
		code := &schema{Type: "string"}
		mapping := map[string]string{}
		errSchema = &schema{Type: "object", Required: []string{"code"}, Properties: &properties{},
			Discriminator: &discriminator{PropertyName: "code", Mapping: mapping}}
		errSchema.Properties.add("code", code)
		for _, c := range codes {
			code.Enum = append(code.Enum, mustJSON(c.String()))
			errSchema.OneOf = append(errSchema.OneOf, errorRef(c))
			mapping[c.String()] = errorRef(c).Ref
		}
	}
	envelope := &properties{}
	envelope.add("schema_version", &schema{Type: "integer", Const: json.RawMessage("1"), Description: "The envelope's version."})
	envelope.add("error", errSchema)
	body := objectSchema(envelope, "schema_version", "error")
	body.Description = "The error envelope, as every non-2xx response has it."

	resp := &response{
		Description: strings.TrimSpace(desc.String()),
		Headers:     requestIDHeaders(),
		Content:     map[string]*mediaType{"application/json": {Schema: body}},
	}
	if slices.Contains(codes, derrors.CodeInvalidToken) {
		resp.Headers["WWW-Authenticate"] = &header{
			Description: "A `Bearer` challenge (RFC 6750), sent when the bearer token is missing or invalid.",
			Schema:      &schema{Type: "string"},
		}
	}
	switch status {
	case http.StatusTooManyRequests:
		resp.Headers["Retry-After"] = &header{
			Description: "Seconds to wait before retrying.",
			Schema:      &schema{Type: "integer", Minimum: "1"},
		}
	case http.StatusServiceUnavailable:
		if slices.Contains(codes, derrors.CodeUnavailable) {
			resp.Headers["Retry-After"] = &header{
				Description: "Seconds to wait before retrying, sent when the server knows (at capacity).",
				Schema:      &schema{Type: "integer", Minimum: "1"},
			}
		}
	case http.StatusMethodNotAllowed:
		resp.Headers["Allow"] = &header{
			Description: "The methods the path supports.",
			Schema:      &schema{Type: "string"},
		}
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Headers["Content-Range"] = &header{
			Description: "`bytes */size`: the resource's length.",
			Schema:      &schema{Type: "string"},
		}
	}
	return resp
}
