package users

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// AdminUpdateUserRequest is the body of PATCH /v1/admin/users/{user_id}.
type AdminUpdateUserRequest struct {
	Groups   *[]string `json:"groups,omitempty" doc:"groups granted in Slipway: operator, root (replaces the list)"`
	Disabled *bool     `json:"disabled,omitempty" doc:"a disabled user's tokens stop working at once"`
}

// AdminRoutes are the root-only user administration routes.
type AdminRoutes struct{ svc *Service }

// NewAdminRoutes builds the routes.
func NewAdminRoutes(svc *Service) *AdminRoutes { return &AdminRoutes{svc: svc} }

// Operations lists the routes.
func (r *AdminRoutes) Operations() []httpserver.Operation {
	tags := []string{"admin"}
	return []httpserver.Operation{
		{Method: http.MethodGet, Path: "/admin/users", ID: "listUsers", Tags: tags, Access: httpserver.Root,
			Summary: "List every user", Query: httpserver.PageQuery{},
			Responses: []httpserver.Response{{Status: 200, Body: httpserver.Page[UserResponse]{}}},
			Errors:    []derrors.Code{derrors.CodeValidation}, Handler: r.list},
		{Method: http.MethodPatch, Path: "/admin/users/:user_id", ID: "updateUser", Tags: tags, Access: httpserver.Root,
			Summary: "Change a user's groups or disable them", Request: AdminUpdateUserRequest{},
			Responses: []httpserver.Response{{Status: 200, Body: UserResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeNotFound, derrors.CodeConflict}, Handler: r.update},
	}
}

func (r *AdminRoutes) list(c *fiber.Ctx) error {
	req, err := httpserver.ParsePage(c)
	if err != nil {
		return err
	}
	res, err := r.svc.List(c.UserContext(), req)
	if err != nil {
		return err
	}
	return c.JSON(httpserver.NewPage(res, NewUserResponse))
}

func (r *AdminRoutes) update(c *fiber.Ctx) error {
	var req AdminUpdateUserRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	u, err := r.svc.AdminUpdate(c.UserContext(), httpserver.Caller(c), c.Params("user_id"),
		AdminChanges{Groups: req.Groups, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	return c.JSON(NewUserResponse(u))
}
