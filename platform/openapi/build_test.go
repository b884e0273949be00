package openapi_test

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/openapi"
)

func TestBuildTopLevel(t *testing.T) {
	doc := buildSample(t)
	require.Equal(t, "3.1.0", doc["openapi"])
	require.Equal(t, map[string]any{"title": "Slipway API", "version": "1.0.0", "description": "Runs coding agents on repositories."}, doc["info"])
	require.Equal(t, []any{
		map[string]any{"name": "admin"}, map[string]any{"name": "projects", "description": "Projects."},
		map[string]any{"name": "runs", "description": "Runs."}, map[string]any{"name": "system"}, map[string]any{"name": "trees"},
	}, doc["tags"], "tags in use, with the descriptions Info gives")
	require.Equal(t, []any{map[string]any{"url": "/", "description": "The server that serves this document."}}, doc["servers"])
	require.Equal(t, map[string]any{
		"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
		"description": "An access token, sent as `Authorization: Bearer <token>`.",
	}, dig(t, doc, "components", "securitySchemes", "bearerAuth"))
}

func TestBuildPaths(t *testing.T) {
	doc := buildSample(t)
	paths := doc["paths"].(map[string]any)
	for _, tc := range []struct {
		path, method, id string
		params           []string
	}{
		{"/healthz", "get", "getHealth", nil},
		{"/v1/projects", "post", "createProject", nil},
		{"/v1/projects/{project_id}", "get", "getProject", []string{"project_id"}},
		{"/v1/projects/{project_id}", "patch", "updateProject", []string{"project_id"}},
		{"/v1/projects/{project_id}", "delete", "deleteProject", []string{"project_id"}},
		{"/v1/repositories/{repository_id}/runs", "post", "startRun", []string{"repository_id"}},
		{"/v1/admin/users/{user_id}", "patch", "updateUser", []string{"user_id"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			op := dig(t, paths, tc.path, tc.method)
			require.Equal(t, tc.id, dig(t, op, "operationId"))
			for _, name := range tc.params {
				require.Equal(t, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}},
					param(t, op, "path", name))
			}
		})
	}
	require.NotContains(t, paths, "/v1/healthz")
	require.Equal(t, "Get a project", dig(t, paths, "/v1/projects/{project_id}", "get", "summary"))
	require.Equal(t, []any{"projects"}, dig(t, paths, "/v1/projects/{project_id}", "get", "tags"))
}

func TestBuildQueryParameters(t *testing.T) {
	doc := buildSample(t)
	list := dig(t, doc, "paths", "/v1/projects", "get")
	require.Equal(t, map[string]any{
		"name": "limit", "in": "query", "description": "Page size.",
		"schema": map[string]any{"type": "integer", "format": "int64", "minimum": 1.0, "maximum": 100.0, "default": 20.0},
	}, param(t, list, "query", "limit"))
	require.Equal(t, map[string]any{
		"name": "cursor", "in": "query", "description": "Opaque cursor from next_cursor.",
		"schema": map[string]any{"type": "string"},
	}, param(t, list, "query", "cursor"))

	// An embedded struct's parameters come first, then the struct's own.
	runs := dig(t, doc, "paths", "/v1/runs", "get")
	var names []string
	for _, p := range dig(t, runs, "parameters").([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"limit", "cursor", "status", "project_id", "all"}, names)
	require.Equal(t, map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{"queued", "running"}}},
		param(t, runs, "query", "status")["schema"])
	require.Equal(t, true, param(t, runs, "query", "project_id")["required"])
	require.NotContains(t, param(t, runs, "query", "all"), "required")
	require.Equal(t, map[string]any{"type": "boolean", "default": false}, param(t, runs, "query", "all")["schema"])
}

func TestBuildHeaderParameters(t *testing.T) {
	doc := buildSample(t)
	op := dig(t, doc, "paths", "/v1/repositories/{repository_id}/runs", "post")
	require.Equal(t, map[string]any{
		"name": "Idempotency-Key", "in": "header", "description": "Makes retries safe.",
		"schema": map[string]any{"type": "string"},
	}, param(t, op, "header", "Idempotency-Key"))
}

func TestBuildRequestBodies(t *testing.T) {
	doc := buildSample(t)

	body := dig(t, doc, "paths", "/v1/projects", "post", "requestBody").(map[string]any)
	require.Equal(t, true, body["required"])
	create := component(t, doc, dig(t, body, "content", "application/json", "schema"))
	require.Equal(t, map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name":        map[string]any{"type": "string", "minLength": 1.0, "maxLength": 100.0},
			"description": map[string]any{"type": "string", "maxLength": 1000.0},
		},
		"required":             []any{"name"},
		"additionalProperties": false,
	}, create)

	// Pointers in requests are optional, not nullable.
	update := component(t, doc, dig(t, doc, "paths", "/v1/projects/{project_id}", "patch", "requestBody", "content", "application/json", "schema"))
	require.Equal(t, map[string]any{"type": "string", "minLength": 1.0}, dig(t, update, "properties", "name"))
	require.NotContains(t, update, "required")
	require.Equal(t, false, update["additionalProperties"])

	// Nested request objects reject unknown fields too; omitzero is optional.
	start := component(t, doc, dig(t, doc, "paths", "/v1/repositories/{repository_id}/runs", "post", "requestBody", "content", "application/json", "schema"))
	require.Equal(t, []any{"prompt"}, start["required"])
	require.Equal(t, "^[A-Za-z0-9._/-]+$", dig(t, start, "properties", "branch", "pattern"))
	options := component(t, doc, dig(t, start, "properties", "options"))
	require.Equal(t, false, options["additionalProperties"])
	require.Equal(t, map[string]any{"type": "integer", "format": "int64", "minimum": 1.0, "maximum": 86400.0}, dig(t, options, "properties", "timeout_seconds"))

	// A pointer to a slice in a request: optional, enum on the items.
	user := component(t, doc, dig(t, doc, "paths", "/v1/admin/users/{user_id}", "patch", "requestBody", "content", "application/json", "schema"))
	require.Equal(t, map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{"operator", "root"}}}, dig(t, user, "properties", "groups"))
}

func TestBuildResponseSchemas(t *testing.T) {
	doc := buildSample(t)
	run := component(t, doc, dig(t, doc, "paths", "/v1/repositories/{repository_id}/runs", "post", "responses", "202", "content", "application/json", "schema"))
	props := run["properties"].(map[string]any)
	for _, tc := range []struct {
		field string
		want  any
	}{
		{"id", map[string]any{"type": "string"}},
		{"status", map[string]any{"type": "string", "enum": []any{"queued", "preparing", "running", "succeeded", "failed", "canceled", "timed_out", "interrupted"}}},
		{"reason", map[string]any{"type": []any{"string", "null"}, "enum": []any{"oom", "timeout", nil}}},
		{"exit_code", map[string]any{"type": []any{"integer", "null"}, "format": "int64"}},
		{"error", map[string]any{"type": []any{"string", "null"}}},
		{"started_at", map[string]any{"type": []any{"string", "null"}, "format": "date-time"}},
		{"project", map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/Project"}, map[string]any{"type": "null"}}}},
		{"labels", map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}},
		{"meta", map[string]any{}},
		{"attempts", map[string]any{"type": "string"}},
		{"tags", map[string]any{"type": "array", "maxItems": 10.0, "items": map[string]any{"type": "string", "enum": []any{"a", "b"}}}},
		{"created_at", map[string]any{"type": "string", "format": "date-time"}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			require.Equal(t, tc.want, props[tc.field])
		})
	}
	require.NotContains(t, props, "Skipped")
	require.NotContains(t, props, "-")
	require.NotContains(t, props, "unexported")
	require.NotContains(t, props, "Timestamps")
	require.NotContains(t, run, "additionalProperties")
	require.Equal(t, []any{"id", "status", "labels", "meta", "attempts", "tags", "created_at", "updated_at"}, run["required"])

	project := dig(t, doc, "components", "schemas", "Project").(map[string]any)
	require.Equal(t, map[string]any{"type": "string", "description": "Opaque id, prefixed prj_.", "examples": []any{"prj_01J"}}, dig(t, project, "properties", "id"))
	require.Equal(t, []any{"id", "name", "description", "owner_id", "created_at", "updated_at"}, project["required"])

	// A generic type is named after its argument; its pointer field is nullable.
	list := component(t, doc, dig(t, doc, "paths", "/v1/projects", "get", "responses", "200", "content", "application/json", "schema"))
	require.Equal(t, map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Project"}}, dig(t, list, "properties", "items"))
	require.Equal(t, map[string]any{"type": []any{"string", "null"}}, dig(t, list, "properties", "next_cursor"))
	require.Contains(t, dig(t, doc, "components", "schemas"), "ListProject")
	require.Contains(t, dig(t, doc, "components", "schemas"), "ListRun")

	// A top-level slice body, and format tags.
	require.Equal(t, map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Container"}},
		dig(t, doc, "paths", "/v1/admin/containers", "get", "responses", "200", "content", "application/json", "schema"))
	require.Equal(t, "email", dig(t, doc, "components", "schemas", "User", "properties", "email", "format"))
}

func TestBuildComponentNames(t *testing.T) {
	doc := buildSample(t)
	schemas := dig(t, doc, "components", "schemas").(map[string]any)
	names := slices.Sorted(maps.Keys(schemas))
	require.Equal(t, []string{
		"AlphaItem", "BetaItem", "CleanupResult", "ConflictError", "Container", "CreateProjectRequest",
		"EmailTakenError", "FieldError", "ForbiddenError", "HeadersTooLargeError", "Health", "InternalError",
		"InvalidJsonError", "InvalidTokenError", "ListProject", "ListRun", "MethodNotAllowedError", "Node", "NodeInput",
		"NotFoundError", "Pair", "PayloadTooLargeError", "Project", "ProjectInput", "QuotaExceededError", "RangeNotSatisfiableError", "RateLimitedError",
		"Run", "RunOptions", "ServiceUnavailableError", "StartRunRequest", "UnsupportedMediaTypeError",
		"UpdateProjectRequest", "UpdateUserRequest", "User", "ValidationError",
	}, names)

	// Same-named types from two packages are told apart by package.
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/AlphaItem"}, dig(t, schemas, "Pair", "properties", "a"))
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/BetaItem"}, dig(t, schemas, "Pair", "properties", "b"))
	require.Equal(t, []any{"id"}, dig(t, schemas, "AlphaItem", "required"))
	require.Equal(t, []any{"name", "count"}, dig(t, schemas, "BetaItem", "required"))

	// A type read as a request and as a response has one schema for each.
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/ProjectInput"},
		dig(t, doc, "paths", "/v1/projects/import", "post", "requestBody", "content", "application/json", "schema"))
	require.Equal(t, false, dig(t, schemas, "ProjectInput", "additionalProperties"))
	require.NotContains(t, schemas["Project"], "additionalProperties")

	// Recursive types refer to themselves.
	require.Equal(t, map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Node"}}, dig(t, schemas, "Node", "properties", "children"))
	require.Equal(t, map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/Node"}, map[string]any{"type": "null"}}}, dig(t, schemas, "Node", "properties", "parent"))
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/NodeInput"}, dig(t, schemas, "NodeInput", "properties", "parent"))
}

// NotFoundError clashes with the name Build gives the not_found error object.
type NotFoundError struct {
	Oops string `json:"oops"`
}

func TestBuildReservedComponentName(t *testing.T) {
	raw, err := openapi.Build(sampleInfo, []httpserver.Operation{{
		Method: "GET", Path: "/oops", ID: "oops",
		Responses: []httpserver.Response{{Status: 200, Body: NotFoundError{}}},
		Errors:    []derrors.Code{derrors.CodeNotFound},
	}})
	require.NoError(t, err)
	doc := decode(t, raw)
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/OpenapiTestNotFoundError"},
		dig(t, doc, "paths", "/v1/oops", "get", "responses", "200", "content", "application/json", "schema"))
	require.Equal(t, []any{"not_found"}, dig(t, doc, "components", "schemas", "NotFoundError", "properties", "code", "enum"))

	// Without an operation that answers not_found, the name is free.
	raw, err = openapi.Build(sampleInfo, []httpserver.Operation{{
		Method: "GET", Path: "/oops", ID: "oops",
		Responses: []httpserver.Response{{Status: 200, Body: NotFoundError{}}},
	}})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/NotFoundError"},
		dig(t, decode(t, raw), "paths", "/v1/oops", "get", "responses", "200", "content", "application/json", "schema"))
}

// errorCodes returns, per error status of an operation, the codes its
// response's error object may have: the enum of the code of the inline
// error schema, or of the one error object it refers to.
func errorCodes(t *testing.T, doc map[string]any, path, method string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for status, r := range dig(t, doc, "paths", path, method, "responses").(map[string]any) {
		if status < "400" {
			continue
		}
		errSchema := dig(t, r, "content", "application/json", "schema", "properties", "error").(map[string]any)
		if _, ok := errSchema["$ref"]; ok {
			errSchema = component(t, doc, errSchema)
		}
		for _, c := range dig(t, errSchema, "properties", "code", "enum").([]any) {
			out[status] = append(out[status], c.(string))
		}
	}
	return out
}

func TestBuildErrorCodes(t *testing.T) {
	doc := buildSample(t)
	for _, tc := range []struct {
		path, method string
		codes        map[string][]string
	}{
		{"/healthz", "get", map[string][]string{
			"405": {"method_not_allowed"}, "431": {"headers_too_large"}, "500": {"internal_error"}}},
		{"/v1/projects", "post", map[string][]string{
			"400": {"invalid_json"}, "401": {"invalid_token"}, "409": {"conflict", "email_taken"}, "413": {"payload_too_large"},
			"415": {"unsupported_media_type"}, "422": {"validation_error"}, "431": {"headers_too_large"},
			"500": {"internal_error"}, "503": {"service_unavailable"}}},
		{"/v1/projects/{project_id}", "get", map[string][]string{
			"401": {"invalid_token"}, "404": {"not_found"}, "431": {"headers_too_large"},
			"500": {"internal_error"}, "503": {"service_unavailable"}}},
		{"/v1/repositories/{repository_id}/runs", "post", map[string][]string{
			"400": {"invalid_json"}, "401": {"invalid_token"}, "404": {"not_found"}, "413": {"payload_too_large"},
			"415": {"unsupported_media_type"}, "422": {"validation_error"}, "429": {"quota_exceeded", "rate_limited"},
			"431": {"headers_too_large"}, "500": {"internal_error"}, "503": {"service_unavailable"}}},
		{"/v1/admin/containers", "get", map[string][]string{
			"401": {"invalid_token"}, "403": {"forbidden"}, "431": {"headers_too_large"},
			"500": {"internal_error"}, "503": {"service_unavailable"}}},
		{"/v1/runs", "get", map[string][]string{ // query parameters: the NUL check's 422
			"401": {"invalid_token"}, "422": {"validation_error"}, "431": {"headers_too_large"},
			"500": {"internal_error"}, "503": {"service_unavailable"}}},
		{"/v1/runs/{run_id}/patch", "get", map[string][]string{ // not_found listed twice, once here
			"401": {"invalid_token"}, "404": {"not_found"}, "431": {"headers_too_large"},
			"500": {"internal_error"}, "503": {"service_unavailable"}}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			require.Equal(t, tc.codes, errorCodes(t, doc, tc.path, tc.method))
		})
	}
}

func TestBuildErrorResponses(t *testing.T) {
	doc := buildSample(t)
	responses := dig(t, doc, "paths", "/v1/projects", "post", "responses").(map[string]any)
	for status, r := range responses {
		if status < "400" {
			continue
		}
		require.Equal(t, map[string]any{"$ref": "#/components/headers/X-Request-ID"}, dig(t, r, "headers", "X-Request-ID"), status)
		body := dig(t, r, "content", "application/json", "schema").(map[string]any)
		require.Equal(t, []any{"schema_version", "error"}, body["required"], status)
		require.Equal(t, map[string]any{"type": "integer", "const": 1.0, "description": "The envelope's version."},
			dig(t, body, "properties", "schema_version"))
	}

	// One code: the error is that code's object.
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/ValidationError"},
		dig(t, responses, "422", "content", "application/json", "schema", "properties", "error"))
	require.Contains(t, dig(t, responses, "422", "description"), "`validation_error`")

	// Several: one of their objects, told apart by code.
	require.Equal(t, map[string]any{
		"type":       "object",
		"properties": map[string]any{"code": map[string]any{"type": "string", "enum": []any{"conflict", "email_taken"}}},
		"required":   []any{"code"},
		"oneOf": []any{
			map[string]any{"$ref": "#/components/schemas/ConflictError"},
			map[string]any{"$ref": "#/components/schemas/EmailTakenError"},
		},
		"discriminator": map[string]any{"propertyName": "code", "mapping": map[string]any{
			"conflict":    "#/components/schemas/ConflictError",
			"email_taken": "#/components/schemas/EmailTakenError",
		}},
	}, dig(t, responses, "409", "content", "application/json", "schema", "properties", "error"))
	require.Contains(t, dig(t, responses, "409", "description"), "`conflict`")
	require.Contains(t, dig(t, responses, "409", "description"), "`email_taken`")

	// Headers that go with some codes.
	require.Contains(t, dig(t, responses, "401", "headers"), "WWW-Authenticate")
	require.NotContains(t, dig(t, responses, "409", "headers"), "WWW-Authenticate")
	limited := dig(t, doc, "paths", "/v1/repositories/{repository_id}/runs", "post", "responses", "429").(map[string]any)
	require.Equal(t, map[string]any{"type": "integer", "minimum": 1.0}, dig(t, limited, "headers", "Retry-After", "schema"))
	require.Contains(t, dig(t, doc, "paths", "/healthz", "get", "responses", "405", "headers"), "Allow")
	require.Contains(t, dig(t, responses, "503", "headers"), "Retry-After", "service_unavailable: at capacity")
}

func TestBuildErrorObjects(t *testing.T) {
	doc := buildSample(t)
	schemas := dig(t, doc, "components", "schemas").(map[string]any)
	validation := schemas["ValidationError"].(map[string]any)
	require.Equal(t, []any{"code", "message", "retryable", "details"}, validation["required"])
	require.Equal(t, map[string]any{"type": "string", "enum": []any{"validation_error"}}, dig(t, validation, "properties", "code"))
	require.Equal(t, map[string]any{"type": "boolean", "const": false, "description": "Whether the same request may succeed later; fixed for each code."},
		dig(t, validation, "properties", "retryable"))
	require.Equal(t, true, dig(t, schemas, "ServiceUnavailableError", "properties", "retryable", "const"))
	require.Equal(t, true, dig(t, schemas, "RateLimitedError", "properties", "retryable", "const"))
	require.NotEmpty(t, validation["description"])

	for _, tc := range []struct {
		component string
		details   any
	}{
		{"ValidationError", map[string]any{"type": "object", "required": []any{"fields"}, "properties": map[string]any{
			"fields": map[string]any{"type": "array", "minItems": 1.0, "items": map[string]any{"$ref": "#/components/schemas/FieldError"}}}}},
		{"ForbiddenError", []any{"required_group"}},
		{"RateLimitedError", []any{"retry_after_seconds"}},
		{"QuotaExceededError", []any{"retry_after_seconds"}},
		{"RangeNotSatisfiableError", []any{"size"}},
		{"ServiceUnavailableError", []any{"service"}},
		{"MethodNotAllowedError", nil},
		{"NotFoundError", nil},
		{"ConflictError", nil},
		{"EmailTakenError", map[string]any{"type": "object", "description": "Empty for this code."}},
		{"InternalError", map[string]any{"type": "object", "description": "Empty for this code."}},
	} {
		t.Run(tc.component, func(t *testing.T) {
			details := dig(t, schemas, tc.component, "properties", "details").(map[string]any)
			switch want := tc.details.(type) {
			case map[string]any:
				require.Equal(t, want, details)
			default: // the required keys
				require.Equal(t, "object", details["type"])
				require.NotEmpty(t, details["properties"])
				if want == nil {
					require.NotContains(t, details, "required")
				} else {
					require.Equal(t, want, details["required"])
				}
			}
		})
	}
	require.Contains(t, dig(t, schemas, "MethodNotAllowedError", "properties", "details", "properties"), "allow")
	require.Equal(t, map[string]any{
		"type": "object",
		"properties": map[string]any{
			"field":  map[string]any{"type": "string", "description": "The JSON field, query parameter or header at fault.", "examples": []any{"name"}},
			"reason": map[string]any{"type": "string", "description": "What is wrong with it.", "examples": []any{"must not be empty"}},
		},
		"required": []any{"field", "reason"},
	}, schemas["FieldError"])
}

func TestBuildSuccessResponses(t *testing.T) {
	doc := buildSample(t)
	created := dig(t, doc, "paths", "/v1/projects", "post", "responses", "201").(map[string]any)
	require.Equal(t, "The new project.", created["description"])
	require.Equal(t, map[string]any{"$ref": "#/components/schemas/Project"}, dig(t, created, "content", "application/json", "schema"))

	deleted := dig(t, doc, "paths", "/v1/projects/{project_id}", "delete", "responses", "204").(map[string]any)
	require.Equal(t, "No Content", deleted["description"])
	require.NotContains(t, deleted, "content")

	logs := dig(t, doc, "paths", "/v1/runs/{run_id}/logs", "get", "responses", "200").(map[string]any)
	require.Equal(t, "The log so far, or a stream with follow=true.", logs["description"])
	require.Equal(t, map[string]any{
		"text/plain; charset=utf-8": map[string]any{"schema": map[string]any{"type": "string"}},
		"text/event-stream":         map[string]any{"schema": map[string]any{"type": "string"}},
	}, logs["content"])
	require.Equal(t, map[string]any{"text/x-diff": map[string]any{"schema": map[string]any{"type": "string"}}},
		dig(t, doc, "paths", "/v1/runs/{run_id}/patch", "get", "responses", "200", "content"))

	partial := dig(t, doc, "paths", "/v1/runs/{run_id}/logs", "get", "responses", "206").(map[string]any)
	require.Equal(t, map[string]any{"description": "bytes first-last/size", "schema": map[string]any{"type": "string"}},
		dig(t, partial, "headers", "Content-Range"))
	require.Contains(t, dig(t, partial, "headers"), "X-Request-ID")
	unsatisfiable := dig(t, doc, "paths", "/v1/runs/{run_id}/logs", "get", "responses", "416").(map[string]any)
	require.Contains(t, dig(t, unsatisfiable, "headers"), "Content-Range")
}

func TestBuildSecurity(t *testing.T) {
	doc := buildSample(t)
	bearer := []any{map[string]any{"bearerAuth": []any{}}}
	for _, tc := range []struct {
		path, method string
		security     any
		description  string
	}{
		{"/healthz", "get", []any{}, ""},
		{"/v1/projects", "post", bearer, "Requires a bearer token of any signed-in user."},
		{"/v1/admin/containers", "get", bearer, "Requires a bearer token of a user in the `operator` or `root` group."},
		{"/v1/admin/users/{user_id}", "patch", bearer, "Requires a bearer token of a user in the `root` group."},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			op := dig(t, doc, "paths", tc.path, tc.method).(map[string]any)
			require.Equal(t, tc.security, op["security"])
			if tc.description == "" {
				require.NotContains(t, op, "description")
			} else {
				require.Equal(t, tc.description, op["description"])
			}
		})
	}
	require.NotContains(t, doc, "security", "no global requirement: public operations stay public")
}

func TestBuildIsDeterministic(t *testing.T) {
	first, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	ops := sampleOps()
	slices.Reverse(ops)
	for range 5 {
		again, err := openapi.Build(sampleInfo, ops)
		require.NoError(t, err)
		require.True(t, bytes.Equal(first, again), "the document depends on the order of operations or of maps")
	}
	require.True(t, strings.HasPrefix(string(first), "{\n  \"openapi\": \"3.1.0\",\n  \"info\""))
}

func TestBuildRejects(t *testing.T) {
	ok := func(status int, body any) []httpserver.Response {
		return []httpserver.Response{{Status: status, Body: body}}
	}
	op := func(method, path, id string) httpserver.Operation {
		return httpserver.Operation{Method: method, Path: path, ID: id, Responses: ok(200, nil)}
	}
	with := func(o httpserver.Operation, f func(*httpserver.Operation)) httpserver.Operation {
		f(&o)
		return o
	}
	type badTag struct {
		N int `json:"n" minLength:"1"`
	}
	type badEnum struct {
		N int `json:"n" enum:"1,two"`
	}
	type badMinimum struct {
		N int `json:"n" minimum:"lots"`
	}
	type badFormat struct {
		Item Project `json:"item" format:"email"`
	}
	type badDefault struct {
		N int `json:"n" default:"twenty"`
	}
	type badField struct {
		C chan int `json:"c"`
	}
	type badMap struct {
		M map[[2]int]string `json:"m"`
	}
	type untaggedQuery struct {
		Limit int
	}
	type structQuery struct {
		Filter Project `query:"filter"`
	}
	for _, tc := range []struct {
		name string
		info openapi.Info
		ops  []httpserver.Operation
		want string
	}{
		{"no title", openapi.Info{Version: "1"}, nil, "info needs a title and a version"},
		{"duplicate id", sampleInfo, []httpserver.Operation{op("GET", "/a", "x"), op("GET", "/b", "x")}, `duplicate operation ID "x"`},
		{"duplicate route", sampleInfo, []httpserver.Operation{op("GET", "/a/:id", "x"), op("GET", "/a/:id", "y")}, "duplicate route GET /v1/a/{id}"},
		{"same route, unversioned", sampleInfo, []httpserver.Operation{op("GET", "/a", "x"), with(op("GET", "/v1/a", "y"), func(o *httpserver.Operation) { o.Unversioned = true })}, "duplicate route GET /v1/a"},
		{"parameter names differ", sampleInfo, []httpserver.Operation{op("GET", "/a/:id", "x"), op("DELETE", "/a/:a_id", "y")}, "differs from /v1/a/{id} only in parameter names"},
		{"no id", sampleInfo, []httpserver.Operation{op("GET", "/a", "")}, "has no ID"},
		{"bad method", sampleInfo, []httpserver.Operation{op("FETCH", "/a", "x")}, `method "FETCH"`},
		{"optional parameter", sampleInfo, []httpserver.Operation{op("GET", "/a/:id?", "x")}, "optional parameter"},
		{"wildcard", sampleInfo, []httpserver.Operation{op("GET", "/files/*", "x")}, "wildcards"},
		{"repeated parameter", sampleInfo, []httpserver.Operation{op("GET", "/a/:id/b/:id", "x")}, `repeats parameter "id"`},
		{"relative path", sampleInfo, []httpserver.Operation{op("GET", "a", "x")}, "does not start with /"},
		{"no responses", sampleInfo, []httpserver.Operation{{Method: "GET", Path: "/a", ID: "x"}}, "no success response"},
		{"error status as success", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Responses = ok(404, nil) })}, "success response status 404"},
		{"code with no name", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Errors = []derrors.Code{{}} })}, "error code with no name"},
		{"code with two kinds", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) {
			o.Errors = []derrors.Code{derrors.NewCode("internal_error", derrors.KindConflict)}
		})}, "error code internal_error declared with kinds"},
		{"code with two kinds across operations", sampleInfo, []httpserver.Operation{
			with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Errors = []derrors.Code{derrors.CodeNotFound} }),
			with(op("GET", "/b", "y"), func(o *httpserver.Operation) {
				o.Errors = []derrors.Code{derrors.NewCode("not_found", derrors.KindConflict)}
			}),
		}, "error code not_found declared with kinds"},
		{"body on 204", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Responses = ok(204, Project{}) })}, "response 204 cannot have a body"},
		{"unknown content type", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) {
			o.Responses = []httpserver.Response{{Status: 200, ContentType: "application/zip"}}
		})}, "content type application/zip needs a Body value"},
		{"duplicate content", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) {
			o.Responses = []httpserver.Response{{Status: 200, Body: Project{}}, {Status: 200, Body: User{}}}
		})}, "response 200 application/json declared twice"},
		{"unknown access", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Access = "admin" })}, `unknown access "admin"`},
		{"duplicate header", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) {
			o.Headers = []httpserver.Header{{Name: "If-Match"}, {Name: "if-match"}}
		})}, `header parameter "if-match" declared twice`},
		{"minLength on an integer", sampleInfo, []httpserver.Operation{with(op("POST", "/a", "x"), func(o *httpserver.Operation) { o.Request = badTag{} })}, "field N: tag minLength applies to strings and slices, not integer"},
		{"enum item of the wrong type", sampleInfo, []httpserver.Operation{with(op("POST", "/a", "x"), func(o *httpserver.Operation) { o.Request = badEnum{} })}, `"two" is not an integer`},
		{"minimum not a number", sampleInfo, []httpserver.Operation{with(op("POST", "/a", "x"), func(o *httpserver.Operation) { o.Request = badMinimum{} })}, `tag minimum:"lots" is not a number`},
		{"format on an object", sampleInfo, []httpserver.Operation{with(op("POST", "/a", "x"), func(o *httpserver.Operation) { o.Request = badFormat{} })}, "tag format applies to strings, not an object"},
		{"default of the wrong type", sampleInfo, []httpserver.Operation{with(op("POST", "/a", "x"), func(o *httpserver.Operation) { o.Request = badDefault{} })}, `tag default:"twenty": not valid JSON`},
		{"channel field", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Responses = ok(200, badField{}) })}, "has no JSON form"},
		{"array map key", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Responses = ok(200, badMap{}) })}, "cannot be a JSON object key"},
		{"untagged query field", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Query = untaggedQuery{} })}, "field openapi_test.untaggedQuery.Limit has no query tag"},
		{"struct query field", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Query = structQuery{} })}, "is not a query value"},
		{"query not a struct", sampleInfo, []httpserver.Operation{with(op("GET", "/a", "x"), func(o *httpserver.Operation) { o.Query = "limit" })}, "type string is not a struct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := openapi.Build(tc.info, tc.ops)
			require.Error(t, err)
			require.Nil(t, doc)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "openapi.Build: "), err.Error())
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	ops := sampleOps()
	for b.Loop() {
		if _, err := openapi.Build(sampleInfo, ops); err != nil {
			b.Fatal(err)
		}
	}
}
