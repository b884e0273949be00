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

func TestProjectLifecycle(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()

	res := a.Post("/v1/projects", u.Token, map[string]any{"name": "Apollo", "description": "moon"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	p := res.JSON(t)
	id := p["id"].(string)
	require.True(t, strings.HasPrefix(id, "prj_"))
	require.Equal(t, u.ID, p["owner_id"])

	res = a.Get("/v1/projects/"+id, u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "Apollo", res.JSON(t)["name"])

	res = a.Patch("/v1/projects/"+id, u.Token, map[string]any{"description": "mars"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	got := res.JSON(t)
	require.Equal(t, "Apollo", got["name"], "fields not sent stay")
	require.Equal(t, "mars", got["description"])
	require.NotEqual(t, p["updated_at"], got["updated_at"])

	res = a.Delete("/v1/projects/"+id, u.Token)
	require.Equal(t, http.StatusNoContent, res.Status)
	res = a.Get("/v1/projects/"+id, u.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Equal(t, "not_found", res.ErrorCode(t))
	require.Contains(t, string(res.Body), id, "the message names the id")
}

func TestProjectValidation(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	for name, body := range map[string]string{
		"empty name":       `{"name":""}`,
		"blank name":       `{"name":"   "}`,
		"long name":        `{"name":"` + strings.Repeat("x", 101) + `"}`,
		"control chars":    `{"name":"a\u0000b"}`,
		"long description": `{"name":"a","description":"` + strings.Repeat("d", 2001) + `"}`,
		"id by assignment": `{"name":"a","id":"prj_mine"}`,
		"missing name":     `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			res := a.Do(apptest.Request{Method: "POST", Path: "/v1/projects", Token: u.Token, Body: body})
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			require.Equal(t, "validation_error", res.ErrorCode(t))
		})
	}
	p := a.Post("/v1/projects", u.Token, map[string]any{"name": "ok"}).JSON(t)
	res := a.Patch("/v1/projects/"+p["id"].(string), u.Token, map[string]any{"name": ""})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
}

func TestProjectOwnership(t *testing.T) {
	a := apptest.Start(t)
	owner, stranger := a.SignUp(), a.SignUp()
	operator, root := a.CreateUser("operator"), a.CreateUser("root")
	id := a.Post("/v1/projects", owner.Token, map[string]any{"name": "private"}).JSON(t)["id"].(string)

	for _, r := range []*apptest.Response{
		a.Get("/v1/projects/"+id, stranger.Token),
		a.Patch("/v1/projects/"+id, stranger.Token, map[string]any{"name": "mine"}),
		a.Delete("/v1/projects/"+id, stranger.Token),
	} {
		require.Equal(t, http.StatusNotFound, r.Status, "someone else's project does not exist for the caller")
	}
	require.Empty(t, a.Get("/v1/projects", stranger.Token).JSON(t)["items"])

	res := a.Get("/v1/projects?all=true", stranger.Token)
	require.Equal(t, http.StatusForbidden, res.Status)
	require.Equal(t, "forbidden", res.ErrorCode(t))
	require.Contains(t, string(res.Body), `"required_group":"operator"`)

	require.Equal(t, http.StatusOK, a.Get("/v1/projects/"+id, operator.Token).Status, "operators read everything")
	require.Len(t, a.Get("/v1/projects?all=true", operator.Token).JSON(t)["items"], 1)
	require.Equal(t, http.StatusForbidden, a.Patch("/v1/projects/"+id, operator.Token, map[string]any{"name": "x"}).Status)
	require.Equal(t, http.StatusOK, a.Patch("/v1/projects/"+id, root.Token, map[string]any{"name": "renamed by root"}).Status)
	require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+id, root.Token).Status)

	require.Equal(t, http.StatusNotFound, a.Get("/v1/projects/not-an-id", owner.Token).Status)
}

func TestProjectPagination(t *testing.T) {
	a := apptest.Start(t)
	u, other := a.SignUp(), a.SignUp()
	a.Post("/v1/projects", other.Token, map[string]any{"name": "not mine"})
	var want []string
	for i := 0; i < 7; i++ {
		want = append(want, a.Post("/v1/projects", u.Token, map[string]any{"name": fmt.Sprint("p", i)}).JSON(t)["id"].(string))
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		path := "/v1/projects?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		body := a.Get(path, u.Token).JSON(t)
		for _, it := range body["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if body["next_cursor"] == nil {
			break
		}
		cursor = body["next_cursor"].(string)
	}
	require.Equal(t, want, got, "every project once, oldest first")

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=garbage", "all=maybe"} {
		res := a.Get("/v1/projects?"+q, u.Token)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, q)
		require.Equal(t, "validation_error", res.ErrorCode(t))
	}
}

// TestConcurrentPatches sends 50 PATCHes at once, each appending nothing but
// its own name: every request succeeds, and the final record is one of them
// with updated_at from the last write.
func TestConcurrentPatches(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	id := a.Post("/v1/projects", u.Token, map[string]any{"name": "start"}).JSON(t)["id"].(string)
	names := map[string]bool{}
	// Each goroutine fills its own slot; the test goroutine asserts (require
	// must not be called from other goroutines).
	results := make([]*apptest.Response, 50)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		name := fmt.Sprint("writer-", i)
		names[name] = true
		wg.Go(func() {
			results[i], errs[i] = a.Send(apptest.Request{Method: http.MethodPatch, Path: "/v1/projects/" + id,
				Token: u.Token, Body: map[string]any{"name": name, "description": name}})
		})
	}
	wg.Wait()
	for i, res := range results {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	}
	final := a.Get("/v1/projects/"+id, u.Token).JSON(t)
	require.True(t, names[final["name"].(string)])
	require.Equal(t, final["name"], final["description"], "name and description come from the same write")
}
