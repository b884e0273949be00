package users_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/settings"
)

// TestFullHashingGateAnswers503: when the password hashing budget is taken
// and nobody may wait, sign-up and login are refused with a retryable 503,
// and a login for an unknown email gets the same answer as a real one (no
// quicker 401 that would tell which emails exist).
func TestFullHashingGateAnswers503(t *testing.T) {
	s := apptest.Settings(t, func(s *settings.Settings) {
		s.Auth.PasswordMemoryBudget = int(auth.HashCost(s.Auth.PasswordMemoryKiB)) // one hash at once
		s.Auth.PasswordQueueLength = 0
	})
	var hasher auth.Hasher
	a := apptest.StartWith(t, s, fx.Populate(&hasher))
	u := a.SignUp()

	leave, err := hasher.Gate.Enter(context.Background(), s.Auth.PasswordMemoryKiB)
	require.NoError(t, err)
	for name, req := range map[string]struct{ path, email string }{
		"sign-up":             {"/v1/auth/signup", "late@example.com"},
		"login":               {"/v1/auth/login", u.Email},
		"login unknown email": {"/v1/auth/login", "nobody@example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			res := a.Post(req.path, "", map[string]any{"email": req.email, "password": "correct horse battery"})
			require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
			require.Equal(t, "service_unavailable", res.ErrorCode(t))
			require.Equal(t, "1", res.Header.Get("Retry-After"))
			e := res.JSON(t)["error"].(map[string]any)
			require.Equal(t, true, e["retryable"])
			require.Equal(t, "password_hashing", e["details"].(map[string]any)["service"])
		})
	}
	leave()
	res := a.Post("/v1/auth/login", "", map[string]any{"email": u.Email, "password": "correct horse battery"})
	require.Equal(t, http.StatusOK, res.Status, "room again: %s", res.Body)
}
