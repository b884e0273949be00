package auth

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/apierror"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// Guard enforces access levels with a Verifier and a PrincipalSource.
type Guard struct {
	verifier Verifier
	source   PrincipalSource
}

var _ httpserver.Guard = (*Guard)(nil)

// NewGuard builds the guard.
func NewGuard(v Verifier, s PrincipalSource) *Guard { return &Guard{verifier: v, source: s} }

// Require returns the middleware for an access level.
func (g *Guard) Require(level httpserver.Access) fiber.Handler {
	var group string
	switch level {
	case httpserver.Operator:
		group = GroupOperator
	case httpserver.Root:
		group = GroupRoot
	}
	return func(c *fiber.Ctx) error {
		p, err := g.Authenticate(c)
		if err != nil {
			return err
		}
		if group != "" && !p.Has(group) {
			return apierror.Forbidden(group)
		}
		return c.Next()
	}
}

// Authenticate verifies the bearer token of c and stores the principal.
func (g *Guard) Authenticate(c *fiber.Ctx) (Principal, error) {
	token, ok := BearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return Principal{}, apierror.InvalidToken(errors.New("no bearer token"))
	}
	claims, err := g.verifier.Verify(c.UserContext(), token)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Principal{}, apierror.InvalidToken(err)
		}
		return Principal{}, err // an outage (503) stays an outage
	}
	p, err := g.source.Principal(c.UserContext(), claims)
	if err != nil {
		if errors.Is(err, ErrUserInactive) {
			return Principal{}, apierror.InvalidToken(err)
		}
		return Principal{}, err
	}
	setPrincipal(c, p)
	return p, nil
}
