package users_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// TestDisableReachesEveryInstanceAtOnce runs two instances on one PostgreSQL
// database. Both have the user cached (it was just used on each); root
// disables the user through one, and the other refuses the user's token on
// the very next request: the NOTIFY sent in the update's transaction evicts
// it before the PATCH's response is even read.
func TestDisableReachesEveryInstanceAtOnce(t *testing.T) {
	dsn := pgtest.NewDB(t)
	secret := func(s *settings.Settings) { s.Auth.TokenSecret = "shared-secret-of-two-instances-32b!" }
	a := apptest.Start(t, apptest.PostgresAt(dsn), secret)
	b := apptest.Start(t, apptest.PostgresAt(dsn), secret)
	root, alice := a.CreateUser("root"), a.SignUp()

	for i := 0; i < 3; i++ { // warm both caches
		require.Equal(t, http.StatusOK, a.Get("/v1/auth/me", alice.Token).Status)
		require.Equal(t, http.StatusOK, b.Get("/v1/auth/me", alice.Token).Status)
	}
	res := a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"disabled": true})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, http.StatusUnauthorized, a.Get("/v1/auth/me", alice.Token).Status, "the writing instance")
	// NOTIFY is delivered after commit; allow the listener its milliseconds.
	require.Eventually(t, func() bool { return b.Get("/v1/auth/me", alice.Token).Status == http.StatusUnauthorized },
		2*time.Second, 5*time.Millisecond, "the other instance")

	res = a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"disabled": false, "groups": []string{"operator"}})
	require.Equal(t, http.StatusOK, res.Status)
	require.Eventually(t, func() bool { return b.Get("/v1/projects?all=true", alice.Token).Status == http.StatusOK },
		2*time.Second, 5*time.Millisecond, "a new group reaches the other instance too")
}
