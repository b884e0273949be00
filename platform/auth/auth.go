// Package auth verifies bearer tokens and hashes passwords. A Verifier
// (custom HS256 tokens, or Cognito JWTs) turns a token into Claims; a
// PrincipalSource (the users module) turns Claims into the current user,
// refusing disabled and deleted users on every request. The HTTP guard that
// uses both lives in platform/httpserver: this package imports no Fiber, so
// the users service can issue tokens without the HTTP stack.
package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/platform/identity"
)

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
	Principal(ctx context.Context, c Claims) (identity.Principal, error)
}

// ErrUserInactive is returned for a token of a disabled or deleted user.
var ErrUserInactive = errors.New("user is disabled or deleted")

// ErrInvalidToken is wrapped by every token rejection.
var ErrInvalidToken = errors.New("invalid token")

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
