package httpserver

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
	"github.com/slipwayhq/slipway/platform/identity"
)

// Guard turns an access level into the middleware that enforces it.
type Guard interface {
	Require(Access) fiber.Handler
}

// TokenGuard enforces access levels with the auth module's Verifier and the
// users module's PrincipalSource.
type TokenGuard struct {
	verifier auth.Verifier
	source   auth.PrincipalSource
}

var _ Guard = (*TokenGuard)(nil)

// NewGuard builds the guard.
func NewGuard(v auth.Verifier, s auth.PrincipalSource) *TokenGuard {
	return &TokenGuard{verifier: v, source: s}
}

// Require returns the middleware for an access level.
func (g *TokenGuard) Require(level Access) fiber.Handler {
	var group string
	switch level {
	case Operator:
		group = identity.GroupOperator
	case Root:
		group = identity.GroupRoot
	}
	return func(c *fiber.Ctx) error {
		p, err := g.Authenticate(c)
		if err != nil {
			return err
		}
		if group != "" && !p.Has(group) {
			return derrors.Forbidden(group)
		}
		return c.Next()
	}
}

// invalidToken is the answer to any token we do not accept; the cause is
// logged only.
func invalidToken(cause error) error {
	return derrors.New(derrors.CodeInvalidToken, "missing or invalid bearer token").WithCause(cause)
}

// Authenticate verifies the bearer token of c and stores the principal.
func (g *TokenGuard) Authenticate(c *fiber.Ctx) (identity.Principal, error) {
	token, ok := auth.BearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return identity.Principal{}, invalidToken(errors.New("no bearer token"))
	}
	claims, err := g.verifier.Verify(c.UserContext(), token)
	if err != nil {
		if errors.Is(err, auth.ErrInvalidToken) {
			return identity.Principal{}, invalidToken(err)
		}
		return identity.Principal{}, err // an outage (503) stays an outage
	}
	p, err := g.source.Principal(c.UserContext(), claims)
	if err != nil {
		if errors.Is(err, auth.ErrUserInactive) {
			return identity.Principal{}, invalidToken(err)
		}
		return identity.Principal{}, err
	}
	c.Locals(principalKey, p)
	c.Locals(middleware.UserIDKey, p.ID)
	return p, nil
}

const principalKey = "httpserver.principal"

// Caller returns the caller of a guarded route. It panics when the route was
// not guarded: that is a wiring bug, caught by the recover middleware as a 500.
func Caller(c *fiber.Ctx) identity.Principal {
	p, ok := c.Locals(principalKey).(identity.Principal)
	if !ok {
		panic("httpserver.Caller on a route without a guard")
	}
	return p
}
