// Package auth verifies bearer tokens and guards routes. A Verifier (custom
// HS256 tokens, or Cognito JWTs) turns a token into Claims; a PrincipalSource
// (the users module) turns Claims into the current user, refusing disabled and
// deleted users on every request; Guard enforces the access level an
// operation declares (user, operator, root — root implies operator).
package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
)

// Groups.
const (
	GroupOperator = "operator"
	GroupRoot     = "root"
)

// KnownGroups lists every group Slipway gives meaning to.
var KnownGroups = []string{GroupOperator, GroupRoot}

// Principal is the authenticated caller.
type Principal struct {
	ID     string
	Email  string
	Groups []string
}

// Has reports whether p belongs to group; root implies operator.
func (p Principal) Has(group string) bool {
	if slices.Contains(p.Groups, group) {
		return true
	}
	return group == GroupOperator && slices.Contains(p.Groups, GroupRoot)
}

// IsOperator reports whether p may see every user's resources.
func (p Principal) IsOperator() bool { return p.Has(GroupOperator) }

// Claims is what a verified token says about its bearer.
type Claims struct {
	Subject  string
	Email    string
	Username string
	// Groups is set by external identity providers (Cognito); nil for custom tokens.
	Groups []string
	// External is true when the identity provider, not Slipway, owns the user.
	External bool
	// ExpiresAt is when the token stops being valid.
	ExpiresAt time.Time
}

// Verifier checks a raw bearer token.
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// PrincipalSource resolves verified claims to a live user. It must return
// ErrUserInactive for a disabled or deleted user.
type PrincipalSource interface {
	Principal(ctx context.Context, c Claims) (Principal, error)
}

// ErrUserInactive is returned for a token of a disabled or deleted user.
var ErrUserInactive = errors.New("user is disabled or deleted")

// ErrInvalidToken is wrapped by every token rejection.
var ErrInvalidToken = errors.New("invalid token")

const principalKey = "auth.principal"

// FromCtx returns the caller of a guarded route. It panics when the route was
// not guarded: that is a wiring bug, caught by the recover middleware as a 500.
func FromCtx(c *fiber.Ctx) Principal {
	p, ok := c.Locals(principalKey).(Principal)
	if !ok {
		panic("auth.FromCtx on a route without a guard")
	}
	return p
}

func setPrincipal(c *fiber.Ctx, p Principal) {
	c.Locals(principalKey, p)
	c.Locals(middleware.UserIDKey, p.ID)
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header
// value; ok is false when it is absent or malformed.
func BearerToken(header string) (token string, ok bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token = strings.TrimSpace(header[len(prefix):])
	if token == "" || len(token) > 8192 || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}
