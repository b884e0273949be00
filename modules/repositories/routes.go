package repositories

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// RepositoryResponse is the wire form of a repository.
type RepositoryResponse struct {
	ID        string `json:"id" doc:"Repository id (rep_…)"`
	ProjectID string `json:"project_id" doc:"Project id (prj_…)"`
	Name      string `json:"name"`
	URL       string `json:"url" doc:"Where runs clone from"`
	// DefaultBranch is null, not "", when unset: "" is not a branch.
	DefaultBranch *string   `json:"default_branch" doc:"Branch runs start from when they name none; null: the remote's default branch (its HEAD), resolved when a run clones"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func response(r *Repository) RepositoryResponse {
	out := RepositoryResponse{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, URL: r.URL,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.DefaultBranch != "" {
		b := r.DefaultBranch
		out.DefaultBranch = &b
	}
	return out
}

// CreateRepositoryRequest is the body of POST /v1/projects/{project_id}/repositories.
type CreateRepositoryRequest struct {
	URL           string  `json:"url" minLength:"1" maxLength:"2048" doc:"Remote to clone: https://host/path, ssh://[user@]host[:port]/path or user@host:path (host:path without a user only for a dotted host or an IP address). No other scheme (http, git, javascript:, data: …). No credentials (no user information in https URLs, no password in ssh URLs). file:// URLs and local paths only where the server allows them, and hosts on loopback, link-local or private networks (by address or by DNS) likewise; never a cloud metadata, unspecified, multicast or broadcast address"`
	Name          *string `json:"name,omitempty" minLength:"1" maxLength:"100" doc:"Defaults to the URL's last path segment without .git"`
	DefaultBranch string  `json:"default_branch,omitempty" maxLength:"255" doc:"Branch runs start from when they name none: a name git accepts (check-ref-format), not starting with '-'; absent or \"\": the remote's default branch"`
}

// UpdateRepositoryRequest is the body of PATCH /v1/repositories/{repository_id}.
type UpdateRepositoryRequest struct {
	Name          *string `json:"name,omitempty" minLength:"1" maxLength:"100"`
	URL           *string `json:"url,omitempty" minLength:"1" maxLength:"2048" doc:"Same rules as on create"`
	DefaultBranch *string `json:"default_branch,omitempty" maxLength:"255" doc:"\"\" resets it to the remote's default branch; absent or null leaves it as it is"`
}

// Routes are the repositories module's operations.
type Routes struct{ svc *Service }

// NewRoutes builds the routes.
func NewRoutes(svc *Service) *Routes { return &Routes{svc: svc} }

// Operations lists the routes.
func (r *Routes) Operations() []httpserver.Operation {
	tags := []string{"repositories"}
	return []httpserver.Operation{
		{Method: http.MethodPost, Path: "/projects/:project_id/repositories", ID: "createRepository", Tags: tags,
			Access: httpserver.User, Summary: "Add a git repository to a project (owner or root)",
			Request:   CreateRepositoryRequest{},
			Responses: []httpserver.Response{{Status: 201, Body: RepositoryResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.create},
		{Method: http.MethodGet, Path: "/projects/:project_id/repositories", ID: "listRepositories", Tags: tags,
			Access: httpserver.User, Summary: "List a project's repositories, oldest first", Query: httpserver.PageQuery{},
			Responses: []httpserver.Response{{Status: 200, Body: httpserver.Page[RepositoryResponse]{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound}, Handler: r.list},
		{Method: http.MethodGet, Path: "/repositories/:repository_id", ID: "getRepository", Tags: tags,
			Access: httpserver.User, Summary: "Get a repository",
			Responses: []httpserver.Response{{Status: 200, Body: RepositoryResponse{}}},
			Errors:    []derrors.Code{derrors.CodeNotFound}, Handler: r.get},
		{Method: http.MethodPatch, Path: "/repositories/:repository_id", ID: "updateRepository", Tags: tags,
			Access: httpserver.User, Summary: "Change a repository's name, URL or default branch (owner or root)",
			Request:   UpdateRepositoryRequest{},
			Responses: []httpserver.Response{{Status: 200, Body: RepositoryResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.update},
		{Method: http.MethodDelete, Path: "/repositories/:repository_id", ID: "deleteRepository", Tags: tags,
			Access: httpserver.User, Summary: "Delete a repository with its runs (owner or root)",
			Responses: []httpserver.Response{{Status: 204, Description: "deleted"}},
			Errors:    []derrors.Code{derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.delete},
	}
}

func (r *Routes) create(c *fiber.Ctx) error {
	var req CreateRepositoryRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	repo, err := r.svc.Create(c.UserContext(), httpserver.Caller(c), c.Params("project_id"),
		Input{URL: req.URL, Name: req.Name, DefaultBranch: req.DefaultBranch})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(response(repo))
}

func (r *Routes) list(c *fiber.Ctx) error {
	req, err := httpserver.ParsePage(c)
	if err != nil {
		return err
	}
	res, err := r.svc.List(c.UserContext(), httpserver.Caller(c), c.Params("project_id"), req)
	if err != nil {
		return err
	}
	return c.JSON(httpserver.NewPage(res, response))
}

func (r *Routes) get(c *fiber.Ctx) error {
	repo, err := r.svc.Get(c.UserContext(), httpserver.Caller(c), c.Params("repository_id"))
	if err != nil {
		return err
	}
	return c.JSON(response(repo))
}

func (r *Routes) update(c *fiber.Ctx) error {
	var req UpdateRepositoryRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	repo, err := r.svc.Update(c.UserContext(), httpserver.Caller(c), c.Params("repository_id"),
		Changes{Name: req.Name, URL: req.URL, DefaultBranch: req.DefaultBranch})
	if err != nil {
		return err
	}
	return c.JSON(response(repo))
}

func (r *Routes) delete(c *fiber.Ctx) error {
	if err := r.svc.Delete(c.UserContext(), httpserver.Caller(c), c.Params("repository_id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
