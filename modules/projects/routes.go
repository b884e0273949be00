package projects

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// ProjectResponse is the wire form of a project.
type ProjectResponse struct {
	ID          string    `json:"id" doc:"Project id (prj_…)"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     string    `json:"owner_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func response(p *Project) ProjectResponse {
	return ProjectResponse{ID: p.ID, Name: p.Name, Description: p.Description, OwnerID: p.OwnerID,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// CreateProjectRequest is the body of POST /v1/projects.
type CreateProjectRequest struct {
	Name        string `json:"name" minLength:"1" maxLength:"100"`
	Description string `json:"description,omitempty" maxLength:"2000"`
}

// UpdateProjectRequest is the body of PATCH /v1/projects/{project_id}.
type UpdateProjectRequest struct {
	Name        *string `json:"name,omitempty" minLength:"1" maxLength:"100"`
	Description *string `json:"description,omitempty" maxLength:"2000"`
}

// ListProjectsQuery are the query parameters of GET /v1/projects.
type ListProjectsQuery struct {
	httpserver.PageQuery
	All bool `query:"all" doc:"operator or root: list every user's projects"`
}

// Routes are the projects module's operations.
type Routes struct{ svc *Service }

// NewRoutes builds the routes.
func NewRoutes(svc *Service) *Routes { return &Routes{svc: svc} }

// Operations lists the routes.
func (r *Routes) Operations() []httpserver.Operation {
	tags := []string{"projects"}
	return []httpserver.Operation{
		{Method: http.MethodPost, Path: "/projects", ID: "createProject", Tags: tags, Access: httpserver.User,
			Summary: "Create a project owned by the caller", Request: CreateProjectRequest{},
			Responses: []httpserver.Response{{Status: 201, Body: ProjectResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation}, Handler: r.create},
		{Method: http.MethodGet, Path: "/projects", ID: "listProjects", Tags: tags, Access: httpserver.User,
			Summary: "List the caller's projects (all=true: every project, operator)", Query: ListProjectsQuery{},
			Responses: []httpserver.Response{{Status: 200, Body: httpserver.Page[ProjectResponse]{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeForbidden}, Handler: r.list},
		{Method: http.MethodGet, Path: "/projects/:project_id", ID: "getProject", Tags: tags, Access: httpserver.User,
			Summary:   "Get a project",
			Responses: []httpserver.Response{{Status: 200, Body: ProjectResponse{}}},
			Errors:    []derrors.Code{derrors.CodeNotFound}, Handler: r.get},
		{Method: http.MethodPatch, Path: "/projects/:project_id", ID: "updateProject", Tags: tags, Access: httpserver.User,
			Summary: "Change a project's name or description", Request: UpdateProjectRequest{},
			Responses: []httpserver.Response{{Status: 200, Body: ProjectResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.update},
		{Method: http.MethodDelete, Path: "/projects/:project_id", ID: "deleteProject", Tags: tags, Access: httpserver.User,
			Summary:   "Delete a project with its repositories and runs",
			Responses: []httpserver.Response{{Status: 204, Description: "deleted"}},
			Errors:    []derrors.Code{derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.delete},
	}
}

func (r *Routes) create(c *fiber.Ctx) error {
	var req CreateProjectRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	p, err := r.svc.Create(c.UserContext(), httpserver.Caller(c), req.Name, req.Description)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(response(p))
}

func (r *Routes) list(c *fiber.Ctx) error {
	req, err := httpserver.ParsePage(c)
	if err != nil {
		return err
	}
	all, err := httpserver.ParseBool(c, "all")
	if err != nil {
		return err
	}
	res, err := r.svc.List(c.UserContext(), httpserver.Caller(c), all, req)
	if err != nil {
		return err
	}
	return c.JSON(httpserver.NewPage(res, response))
}

func (r *Routes) get(c *fiber.Ctx) error {
	p, err := r.svc.Get(c.UserContext(), httpserver.Caller(c), c.Params("project_id"))
	if err != nil {
		return err
	}
	return c.JSON(response(p))
}

func (r *Routes) update(c *fiber.Ctx) error {
	var req UpdateProjectRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	p, err := r.svc.Update(c.UserContext(), httpserver.Caller(c), c.Params("project_id"),
		Changes{Name: req.Name, Description: req.Description})
	if err != nil {
		return err
	}
	return c.JSON(response(p))
}

func (r *Routes) delete(c *fiber.Ctx) error {
	if err := r.svc.Delete(c.UserContext(), httpserver.Caller(c), c.Params("project_id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
