package openapi_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/openapi"
	"github.com/slipwayhq/slipway/platform/openapi/internal/testtypes/alpha"
	"github.com/slipwayhq/slipway/platform/openapi/internal/testtypes/beta"
)

// A small API shaped like Slipway's, to build documents from.

type Health struct {
	Status string `json:"status" enum:"ok"`
}

type Timestamps struct {
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type Project struct {
	ID          string `json:"id" doc:"Opaque id, prefixed prj_." example:"prj_01J"`
	Name        string `json:"name"`
	Description string `json:"description"`
	OwnerID     string `json:"owner_id"`
	Timestamps
}

type CreateProjectRequest struct {
	Name        string `json:"name" minLength:"1" maxLength:"100"`
	Description string `json:"description,omitempty" maxLength:"1000"`
}

type UpdateProjectRequest struct {
	Name        *string `json:"name" minLength:"1"`
	Description *string `json:"description"`
}

type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

type ListQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
	Cursor string `query:"cursor" doc:"Opaque cursor from next_cursor."`
}

type RunsQuery struct {
	ListQuery
	Status    []string `query:"status" enum:"queued,running"`
	ProjectID string   `query:"project_id,required"`
	All       bool     `query:"all" default:"false"`
}

type RunOptions struct {
	TimeoutSeconds int `json:"timeout_seconds" minimum:"1" maximum:"86400"`
}

type StartRunRequest struct {
	Prompt  string      `json:"prompt" minLength:"1"`
	Branch  string      `json:"branch,omitzero" pattern:"^[A-Za-z0-9._/-]+$"`
	Options *RunOptions `json:"options"`
}

type Run struct {
	ID        string            `json:"id"`
	Status    string            `json:"status" enum:"queued,preparing,running,succeeded,failed,canceled,timed_out,interrupted"`
	Reason    *string           `json:"reason" enum:"oom,timeout"`
	ExitCode  *int              `json:"exit_code"`
	Error     *string           `json:"error"`
	StartedAt *time.Time        `json:"started_at"`
	Project   *Project          `json:"project,omitempty"`
	Labels    map[string]string `json:"labels"`
	Meta      json.RawMessage   `json:"meta"`
	Attempts  int64             `json:"attempts,string"`
	Tags      []string          `json:"tags" maxLength:"10" enum:"a,b"`
	Skipped   string            `json:"-"`
	//lint:ignore U1000 the document must leave unexported fields out
	unexported string
	Timestamps
}

type Container struct {
	ID    string `json:"id"`
	RunID string `json:"run_id"`
}

type CleanupResult struct {
	Removed int `json:"removed" minimum:"0"`
}

type UpdateUserRequest struct {
	Groups   *[]string `json:"groups" enum:"operator,root"`
	Disabled *bool     `json:"disabled"`
}

type User struct {
	ID     string   `json:"id"`
	Email  string   `json:"email" format:"email"`
	Groups []string `json:"groups"`
}

// Node is recursive, to check that reflection stops.
type Node struct {
	Name     string `json:"name"`
	Children []Node `json:"children"`
	Parent   *Node  `json:"parent"`
}

type Pair struct {
	A alpha.Item `json:"a"`
	B beta.Item  `json:"b"`
}

func noop(*fiber.Ctx) error { return nil }

// sampleOps is a small API that uses every feature Build describes.
func sampleOps() []httpserver.Operation {
	return []httpserver.Operation{
		{Method: "GET", Path: "/healthz", Unversioned: true, ID: "getHealth", Summary: "Liveness", Tags: []string{"system"},
			Responses: []httpserver.Response{{Status: 200, Body: Health{}}}, Errors: []derrors.Code{derrors.CodeMethodNotAllowed}, Handler: noop},
		{Method: "POST", Path: "/projects", ID: "createProject", Summary: "Create a project", Tags: []string{"projects"}, Access: httpserver.User,
			Request: CreateProjectRequest{}, Responses: []httpserver.Response{{Status: 201, Body: Project{}, Description: "The new project."}},
			Errors: []derrors.Code{derrors.CodeEmailTaken, derrors.CodeConflict, derrors.CodeValidation}, Handler: noop},
		{Method: "GET", Path: "/projects", ID: "listProjects", Summary: "List projects", Tags: []string{"projects"}, Access: httpserver.User,
			Query: ListQuery{}, Responses: []httpserver.Response{{Status: 200, Body: List[Project]{}}}, Errors: []derrors.Code{derrors.CodeValidation}, Handler: noop},
		{Method: "GET", Path: "/projects/:project_id", ID: "getProject", Summary: "Get a project", Tags: []string{"projects"}, Access: httpserver.User,
			Responses: []httpserver.Response{{Status: 200, Body: &Project{}}}, Errors: []derrors.Code{derrors.CodeNotFound}, Handler: noop},
		{Method: "PATCH", Path: "/projects/:project_id", ID: "updateProject", Summary: "Update a project", Tags: []string{"projects"}, Access: httpserver.User,
			Request: &UpdateProjectRequest{}, Responses: []httpserver.Response{{Status: 200, Body: Project{}}}, Errors: []derrors.Code{derrors.CodeNotFound, derrors.CodeValidation}, Handler: noop},
		{Method: "DELETE", Path: "/projects/:project_id", ID: "deleteProject", Summary: "Delete a project", Tags: []string{"projects"}, Access: httpserver.User,
			Responses: []httpserver.Response{{Status: 204}}, Errors: []derrors.Code{derrors.CodeNotFound}, Handler: noop},
		{Method: "POST", Path: "/projects/import", ID: "importProject", Summary: "Import a project", Tags: []string{"projects"}, Access: httpserver.User,
			Request: Project{}, Responses: []httpserver.Response{{Status: 201, Body: Project{}}}, Handler: noop},
		{Method: "POST", Path: "/repositories/:repository_id/runs", ID: "startRun", Summary: "Start a run", Tags: []string{"runs"}, Access: httpserver.User,
			Request: StartRunRequest{}, Headers: []httpserver.Header{{Name: "Idempotency-Key", Description: "Makes retries safe.", Required: false}},
			Responses: []httpserver.Response{{Status: 202, Body: Run{}}}, Errors: []derrors.Code{derrors.CodeNotFound, derrors.CodeQuotaExceeded, derrors.CodeRateLimited}, Handler: noop},
		{Method: "GET", Path: "/runs", ID: "listRuns", Summary: "List runs", Tags: []string{"runs"}, Access: httpserver.User,
			Query: RunsQuery{}, Responses: []httpserver.Response{{Status: 200, Body: List[Run]{}}}, Handler: noop},
		{Method: "GET", Path: "/runs/:run_id/logs", ID: "getRunLogs", Summary: "Run logs", Tags: []string{"runs"}, Access: httpserver.User,
			Responses: []httpserver.Response{
				{Status: 200, ContentType: "text/plain; charset=utf-8", Description: "The log so far, or a stream with follow=true."},
				{Status: 200, ContentType: "text/event-stream"},
				{Status: 206, ContentType: "text/plain; charset=utf-8", Description: "A part of the log.",
					Headers: []httpserver.Header{{Name: "Content-Range", Description: "bytes first-last/size"}}},
			}, Errors: []derrors.Code{derrors.CodeNotFound, derrors.CodeRangeNotSatisfiable}, Handler: noop},
		{Method: "GET", Path: "/runs/:run_id/patch", ID: "getRunPatch", Summary: "Run patch", Tags: []string{"runs"}, Access: httpserver.User,
			Responses: []httpserver.Response{{Status: 200, ContentType: "text/x-diff"}}, Errors: []derrors.Code{derrors.CodeNotFound, derrors.CodeNotFound}, Handler: noop},
		{Method: "GET", Path: "/admin/containers", ID: "listContainers", Summary: "Managed containers", Tags: []string{"admin"}, Access: httpserver.Operator,
			Responses: []httpserver.Response{{Status: 200, Body: []Container{}}}, Handler: noop},
		{Method: "POST", Path: "/admin/containers/cleanup", ID: "cleanupContainers", Summary: "Remove idle containers", Tags: []string{"admin"}, Access: httpserver.Operator,
			Responses: []httpserver.Response{{Status: 200, Body: CleanupResult{}}}, Handler: noop},
		{Method: "PATCH", Path: "/admin/users/:user_id", ID: "updateUser", Summary: "Update a user", Tags: []string{"admin"}, Access: httpserver.Root,
			Request: UpdateUserRequest{}, Responses: []httpserver.Response{{Status: 200, Body: User{}}}, Errors: []derrors.Code{derrors.CodeNotFound}, Handler: noop},
		{Method: "PUT", Path: "/trees/:tree_id", ID: "putTree", Summary: "Replace a tree", Tags: []string{"trees"}, Access: httpserver.User,
			Request: Node{}, Responses: []httpserver.Response{{Status: 200, Body: Node{}}}, Handler: noop},
		{Method: "GET", Path: "/pairs", ID: "getPair", Summary: "A pair", Tags: []string{"trees"}, Access: httpserver.User,
			Responses: []httpserver.Response{{Status: 200, Body: Pair{}}}, Handler: noop},
	}
}

var sampleInfo = openapi.Info{Title: "Slipway API", Version: "1.0.0", Description: "Runs coding agents on repositories.",
	Tags: map[string]string{"projects": "Projects.", "runs": "Runs.", "unused": "No operation has this tag."}}

// buildSample builds the sample document and decodes it.
func buildSample(t *testing.T) map[string]any {
	t.Helper()
	raw, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	return decode(t, raw)
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	return doc
}

// dig walks objects by key and arrays by index, failing the test on a
// missing step.
func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, step := range path {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[step]
			require.Truef(t, ok, "no key %q at %v", step, path[:i])
			v = next
		case []any:
			n, err := strconv.Atoi(step)
			require.NoError(t, err, "array step %q at %v", step, path[:i])
			require.Lessf(t, n, len(x), "index %d at %v", n, path[:i])
			v = x[n]
		default:
			require.Failf(t, "cannot step", "%q into %T at %v", step, v, path[:i])
		}
	}
	return v
}

// component returns the component schema a $ref schema points to.
func component(t *testing.T, doc map[string]any, ref any) map[string]any {
	t.Helper()
	s, ok := ref.(map[string]any)
	require.True(t, ok, "schema %v is not an object", ref)
	r, ok := s["$ref"].(string)
	require.True(t, ok, "schema %v has no $ref", s)
	const prefix = "#/components/schemas/"
	require.Contains(t, r, prefix)
	return dig(t, doc, "components", "schemas", r[len(prefix):]).(map[string]any)
}

// param finds an operation's parameter by location and name.
func param(t *testing.T, op any, in, name string) map[string]any {
	t.Helper()
	params, _ := op.(map[string]any)["parameters"].([]any)
	for _, p := range params {
		pm := p.(map[string]any)
		if pm["in"] == in && pm["name"] == name {
			return pm
		}
	}
	require.Failf(t, "no parameter", "%s %s", in, name)
	return nil
}
