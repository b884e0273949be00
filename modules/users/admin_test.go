package users_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

func TestAdminUsers(t *testing.T) {
	a := apptest.Start(t)
	root, operator, alice := a.CreateUser("root"), a.CreateUser("operator"), a.SignUp()

	require.Equal(t, http.StatusForbidden, a.Get("/v1/admin/users", operator.Token).Status, "operators do not manage users")
	require.Equal(t, http.StatusForbidden, a.Get("/v1/admin/users", alice.Token).Status)
	res := a.Get("/v1/admin/users?limit=2", root.Token)
	require.Equal(t, http.StatusOK, res.Status)
	body := res.JSON(t)
	require.Len(t, body["items"], 2)
	require.NotNil(t, body["next_cursor"])
	require.NotContains(t, string(res.Body), "password_hash")

	res = a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"groups": []string{"operator"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, []any{"operator"}, res.JSON(t)["groups"])
	require.Equal(t, http.StatusOK, a.Get("/v1/projects?all=true", alice.Token).Status, "the new group works with the old token")

	res = a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"disabled": true})
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, http.StatusUnauthorized, a.Get("/v1/auth/me", alice.Token).Status, "disabled: refused at once")
	login := a.Post("/v1/auth/login", "", map[string]any{"email": alice.Email, "password": "correct horse battery"})
	require.Equal(t, http.StatusUnauthorized, login.Status)
	require.Equal(t, "invalid_credentials", login.ErrorCode(t))

	for name, body := range map[string]map[string]any{
		"disable self":     {"disabled": true},
		"drop own root":    {"groups": []string{"operator"}},
		"drop every group": {"groups": []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			res := a.Patch("/v1/admin/users/"+root.ID, root.Token, body)
			require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
			require.Equal(t, "conflict", res.ErrorCode(t))
		})
	}
	require.Equal(t, http.StatusOK, a.Get("/v1/auth/me", root.Token).Status, "root still works")

	res = a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"groups": []string{"wizard"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	res = a.Patch("/v1/admin/users/usr_nobody", root.Token, map[string]any{"disabled": true})
	require.Equal(t, http.StatusNotFound, res.Status)
	res = a.Patch("/v1/admin/users/"+alice.ID, root.Token, map[string]any{"email": "new@example.com"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "only groups and disabled can change")
}
