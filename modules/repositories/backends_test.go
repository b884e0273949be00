package repositories_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestRepositoriesOnPostgres runs the HTTP lifecycle, ownership and
// pagination flows on PostgreSQL, with the same answers as on the JSON store.
func TestRepositoriesOnPostgres(t *testing.T) {
	a := apptest.Start(t, apptest.Postgres(t))
	t.Run("lifecycle", func(t *testing.T) { lifecycleFlow(t, a) })
	t.Run("ownership", func(t *testing.T) { ownershipFlow(t, a) })
	t.Run("pagination", func(t *testing.T) { paginationFlow(t, a) })
	t.Run("project deleted meanwhile", func(t *testing.T) {
		u := a.SignUp()
		pid := project(t, a, u.Token)
		require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+pid, u.Token).Status)
		res := a.Post("/v1/projects/"+pid+"/repositories", u.Token, map[string]any{"url": "https://h.example/a/b"})
		require.Equal(t, http.StatusNotFound, res.Status)
		require.Equal(t, "not_found", res.ErrorCode(t))
	})
}
