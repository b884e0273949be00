package projects_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestProjectsFlowOnEveryBackend runs the same HTTP flow on the JSON store
// and on PostgreSQL, with the same expected answers.
func TestProjectsFlowOnEveryBackend(t *testing.T) {
	backends := []struct {
		name string
		opts func(t *testing.T) []apptest.Option
	}{
		{"json", func(*testing.T) []apptest.Option { return nil }},
		{"postgres", func(t *testing.T) []apptest.Option { return []apptest.Option{apptest.Postgres(t)} }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			a := apptest.Start(t, b.opts(t)...)
			projectsFlow(t, a)
		})
	}
}

func projectsFlow(t *testing.T, a *apptest.App) {
	owner, stranger := a.SignUp(), a.SignUp()

	// A unique violation is a 409 in the envelope, never a 500.
	res := a.Post("/v1/auth/signup", "", map[string]any{"email": strings.ToUpper(owner.Email), "password": "correct horse battery"})
	require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
	require.Equal(t, "email_taken", res.ErrorCode(t))

	var ids []string
	for i := range 5 {
		res := a.Post("/v1/projects", owner.Token, map[string]any{"name": fmt.Sprint("p", i), "description": "d"})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		p := res.JSON(t)
		require.Equal(t, owner.ID, p["owner_id"])
		require.Equal(t, p["created_at"], p["updated_at"])
		ids = append(ids, p["id"].(string))
	}
	a.Post("/v1/projects", stranger.Token, map[string]any{"name": "theirs"})

	got := a.Get("/v1/projects/"+ids[0], owner.Token)
	require.Equal(t, http.StatusOK, got.Status)
	require.Equal(t, "p0", got.JSON(t)["name"])
	require.Equal(t, http.StatusNotFound, a.Get("/v1/projects/"+ids[0], stranger.Token).Status)

	var listed []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		path := "/v1/projects?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		body := a.Get(path, owner.Token).JSON(t)
		for _, it := range body["items"].([]any) {
			listed = append(listed, it.(map[string]any)["id"].(string))
		}
		if body["next_cursor"] == nil {
			break
		}
		cursor = body["next_cursor"].(string)
	}
	require.Equal(t, ids, listed, "the owner's projects, oldest first, each once")

	operator := a.CreateUser("operator")
	require.Len(t, a.Get("/v1/projects?all=true&limit=100", operator.Token).JSON(t)["items"], 6)

	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- a.Patch("/v1/projects/"+ids[1], owner.Token, map[string]any{"name": fmt.Sprint("w", i), "description": fmt.Sprint("w", i)}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		require.Equal(t, http.StatusOK, s)
	}
	final := a.Get("/v1/projects/"+ids[1], owner.Token).JSON(t)
	require.Equal(t, final["name"], final["description"], "name and description come from the same write")

	require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+ids[2], owner.Token).Status)
	res = a.Get("/v1/projects/"+ids[2], owner.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Equal(t, "not_found", res.ErrorCode(t))
	require.Equal(t, http.StatusNotFound, a.Delete("/v1/projects/"+ids[2], owner.Token).Status)
	require.Len(t, a.Get("/v1/projects", owner.Token).JSON(t)["items"], 4)
}
