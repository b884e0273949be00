package apptest

import (
	"net/http"

	"github.com/stretchr/testify/require"
)

// CreateProject makes a project owned by token's user through the API and
// returns its id: what a module whose records belong to a project needs in
// its tests, without importing the projects module (domains do not import
// each other, tests included).
func (a *App) CreateProject(token string) string {
	a.t.Helper()
	res := a.Post("/v1/projects", token, map[string]any{"name": "test project"})
	require.Equal(a.t, http.StatusCreated, res.Status, "create project: %s", res.Body)
	var p struct {
		ID string `json:"id"`
	}
	res.Decode(a.t, &p)
	require.NotEmpty(a.t, p.ID, "create project: %s", res.Body)
	return p.ID
}
