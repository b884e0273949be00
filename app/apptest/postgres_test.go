package apptest_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app"
	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// TestPostgresDownAtStartFailsTheStart: serve does not come up without its
// database; the start fails with one line naming where it tried.
func TestPostgresDownAtStartFailsTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := apptest.Settings(t, apptest.PostgresAt("postgres://slipway:hunter2@"+addr+"/slipway?sslmode=disable"))

	a := fx.New(app.Options(s), fx.NopLogger)
	require.NoError(t, a.Err())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = a.Start(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "connect to postgres at "+addr+"/slipway (SLIPWAY_DATABASE_URL)")
	require.NotContains(t, err.Error(), "hunter2")
}

// TestPostgresOutageIs503 takes the database away from a running app: API
// calls answer 503 service_unavailable (retryable), /readyz names the
// records check, and both recover by themselves once it is back.
func TestPostgresOutageIs503(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	proxy := pgtest.NewProxy(t, dsn)
	a := apptest.Start(t, apptest.PostgresAt(proxy.URL(dsn)))
	u := a.SignUp()
	id := a.Post("/v1/projects", u.Token, map[string]any{"name": "p"}).JSON(t)["id"].(string)
	require.Equal(t, http.StatusOK, a.Get("/readyz", "").Status)

	proxy.Down()
	for name, res := range map[string]*apptest.Response{
		"get project":    a.Get("/v1/projects/"+id, u.Token),
		"create project": a.Post("/v1/projects", u.Token, map[string]any{"name": "q"}),
		"list projects":  a.Get("/v1/projects", u.Token),
		"sign up":        a.Post("/v1/auth/signup", "", map[string]any{"email": "new@example.com", "password": "correct horse battery"}),
		"log in":         a.Post("/v1/auth/login", "", map[string]any{"email": u.Email, "password": "correct horse battery"}),
	} {
		require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s: %s", name, res.Body)
		require.Equal(t, "service_unavailable", res.ErrorCode(t), name)
		body := res.JSON(t)["error"].(map[string]any)
		require.Equal(t, true, body["retryable"], name)
		require.Equal(t, "postgres", body["details"].(map[string]any)["service"], name)
		require.NotContains(t, string(res.Body), "dial tcp", "%s: no driver text in the body", name)
	}
	ready := a.Get("/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, ready.Status)
	require.Equal(t, "not_ready", ready.ErrorCode(t))
	require.Equal(t, "failing", ready.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["checks"].(map[string]any)["records"])
	require.Equal(t, http.StatusOK, a.Get("/healthz", "").Status, "liveness touches no dependency")

	proxy.Up()
	require.Eventually(t, func() bool {
		return a.Get("/v1/projects/"+id, u.Token).Status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "requests recover without restarting the app")
	require.Equal(t, http.StatusOK, a.Get("/readyz", "").Status)
	require.Equal(t, http.StatusCreated, a.Post("/v1/projects", u.Token, map[string]any{"name": "after"}).Status)
}

// TestPostgresUserAdministration runs the users routes that go past
// sign-up on PostgreSQL: groups, disabling, listing.
func TestPostgresUserAdministration(t *testing.T) {
	a := apptest.Start(t, apptest.Postgres(t))
	root := a.CreateUser("root")
	u := a.SignUp()
	res := a.Patch("/v1/admin/users/"+u.ID, root.Token, map[string]any{"groups": []string{"operator"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, []any{"operator"}, res.JSON(t)["groups"])
	me := a.Get("/v1/auth/me", u.Token).JSON(t)
	require.Equal(t, []any{"operator"}, me["groups"])
	require.Equal(t, http.StatusOK, a.Patch("/v1/admin/users/"+u.ID, root.Token, map[string]any{"disabled": true}).Status)
	require.Equal(t, http.StatusUnauthorized, a.Get("/v1/auth/me", u.Token).Status, "a disabled user's token stops working")
	list := a.Get("/v1/admin/users?limit=1", root.Token).JSON(t)
	require.Len(t, list["items"], 1)
	require.NotNil(t, list["next_cursor"])
}
