package users

import (
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/settings"
)

// UserResponse is the public view of a user.
type UserResponse struct {
	ID          string    `json:"id" doc:"User id (usr_…)"`
	Email       string    `json:"email" format:"email"`
	DisplayName string    `json:"display_name"`
	Groups      []string  `json:"groups" doc:"operator, root (root implies operator)"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewUserResponse converts a stored user to its wire form.
func NewUserResponse(u *User) UserResponse {
	return UserResponse{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Groups: u.EffectiveGroups(),
		Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

// SignUpRequest is the body of POST /v1/auth/signup.
type SignUpRequest struct {
	Email       string `json:"email" format:"email" maxLength:"254"`
	Password    string `json:"password" minLength:"8" maxLength:"256"`
	DisplayName string `json:"display_name,omitempty" maxLength:"100"`
}

// LoginRequest is the body of POST /v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email" format:"email"`
	Password string `json:"password"`
}

// Validate checks presence; the rules live in the service.
func (r *LoginRequest) Validate() []derrors.FieldError {
	var f []derrors.FieldError
	if strings.TrimSpace(r.Email) == "" {
		f = append(f, derrors.FieldError{Field: "email", Reason: "is required"})
	}
	if r.Password == "" {
		f = append(f, derrors.FieldError{Field: "password", Reason: "is required"})
	}
	return f
}

// SessionResponse is a user and their access token.
type SessionResponse struct {
	User        UserResponse `json:"user"`
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type" enum:"bearer"`
	ExpiresIn   int          `json:"expires_in" doc:"seconds until the token expires"`
}

func sessionResponse(s *Session) SessionResponse {
	return SessionResponse{User: NewUserResponse(s.User), AccessToken: s.Token, TokenType: "bearer",
		ExpiresIn: int(s.ExpiresIn / time.Second)}
}

// Routes are the users module's operations.
type Routes struct {
	svc  *Service
	mode string
}

// NewRoutes builds the routes.
func NewRoutes(svc *Service, s *settings.Settings) *Routes {
	return &Routes{svc: svc, mode: s.Auth.Mode}
}

// Operations lists the routes; sign-up and login exist in custom mode only.
func (r *Routes) Operations() []httpserver.Operation {
	ops := []httpserver.Operation{{
		Method: http.MethodGet, Path: "/auth/me", ID: "getCurrentUser", Tags: []string{"auth"},
		Summary: "The authenticated user", Access: httpserver.User,
		Responses: []httpserver.Response{{Status: 200, Body: UserResponse{}}},
		Handler:   r.me,
	}}
	if r.mode != settings.AuthCustom {
		return ops
	}
	return append(ops,
		httpserver.Operation{
			Method: http.MethodPost, Path: "/auth/signup", ID: "signUp", Tags: []string{"auth"},
			Summary: "Create an account and sign in", Request: SignUpRequest{},
			Responses: []httpserver.Response{{Status: 201, Body: SessionResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeSignupDisabled, derrors.CodeEmailTaken, derrors.CodeRateLimited, derrors.CodeUnavailable},
			Handler:   r.signUp,
		},
		httpserver.Operation{
			Method: http.MethodPost, Path: "/auth/login", ID: "logIn", Tags: []string{"auth"},
			Summary: "Sign in with email and password", Request: LoginRequest{},
			Responses: []httpserver.Response{{Status: 200, Body: SessionResponse{}}},
			Errors:    []derrors.Code{derrors.CodeValidation, derrors.CodeInvalidCredentials, derrors.CodeRateLimited, derrors.CodeUnavailable},
			Handler:   r.logIn,
		},
	)
}

func (r *Routes) signUp(c *fiber.Ctx) error {
	var req SignUpRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	s, err := r.svc.SignUp(c.UserContext(), CreateInput{Email: req.Email, Password: req.Password, DisplayName: req.DisplayName},
		httpserver.ClientAddr(c))
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(sessionResponse(s))
}

func (r *Routes) logIn(c *fiber.Ctx) error {
	var req LoginRequest
	if err := httpserver.Decode(c, &req); err != nil {
		return err
	}
	s, err := r.svc.Login(c.UserContext(), req.Email, req.Password, httpserver.ClientAddr(c))
	if err != nil {
		return err
	}
	return c.JSON(sessionResponse(s))
}

func (r *Routes) me(c *fiber.Ctx) error {
	u, err := r.svc.Get(c.UserContext(), httpserver.Caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(NewUserResponse(u))
}
