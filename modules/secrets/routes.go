package secrets

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// SecretResponse is the wire form of a secret: its name and times, never
// its value.
type SecretResponse struct {
	Name      string    `json:"name" doc:"The environment variable runs of the project get"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at" doc:"When the value was last written"`
}

func response(s *Secret) SecretResponse {
	return SecretResponse{Name: s.Name, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// PutSecretRequest is the body of PUT /v1/projects/{project_id}/secrets/{name}.
type PutSecretRequest struct {
	Value string `json:"value" minLength:"4" maxLength:"65536" doc:"The secret's value, 4 to 65536 bytes of UTF-8 without NUL; a project's values together at most 262144 bytes. Write-only: no answer ever holds it, and each occurrence in a run's log reads [secret:NAME]"`
}

// Routes are the secrets module's operations.
type Routes struct{ svc *Service }

// NewRoutes builds the routes.
func NewRoutes(svc *Service) *Routes { return &Routes{svc: svc} }

// Operations lists the routes.
func (r *Routes) Operations() []httpserver.Operation {
	tags := []string{"secrets"}
	return []httpserver.Operation{
		{Method: http.MethodPut, Path: "/projects/:project_id/secrets/:name", ID: "putSecret", Tags: tags,
			Access: httpserver.User,
			Summary: "Create or replace a project secret (owner or root). {name} is an environment variable name, " +
				"^[A-Z_][A-Z0-9_]{0,63}$, other than the reserved ones (SLIPWAY_*, PATH, HOME, the proxy variables, LD_* …); " +
				"a project has at most 100 secrets. Runs get it in their environment",
			Request:   PutSecretRequest{},
			Responses: []httpserver.Response{{Status: 204, Description: "written"}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.put},
		{Method: http.MethodGet, Path: "/projects/:project_id/secrets", ID: "listSecrets", Tags: tags,
			Access: httpserver.User, Summary: "List a project's secrets, oldest first: names and times, never values",
			Query:     httpserver.PageQuery{},
			Responses: []httpserver.Response{{Status: 200, Body: httpserver.Page[SecretResponse]{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound}, Handler: r.list},
		{Method: http.MethodDelete, Path: "/projects/:project_id/secrets/:name", ID: "deleteSecret", Tags: tags,
			Access: httpserver.User, Summary: "Delete a project secret (owner or root)",
			Responses: []httpserver.Response{{Status: 204, Description: "deleted"}},
			Errors:    []derrors.Code{derrors.CodeNotFound, derrors.CodeForbidden}, Handler: r.delete},
	}
}

func (r *Routes) put(c *fiber.Ctx) error {
	var req PutSecretRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	if err := r.svc.Put(c.UserContext(), httpserver.Caller(c), c.Params("project_id"), c.Params("name"), req.Value); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
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

func (r *Routes) delete(c *fiber.Ctx) error {
	if err := r.svc.Delete(c.UserContext(), httpserver.Caller(c), c.Params("project_id"), c.Params("name")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
