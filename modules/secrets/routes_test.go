package secrets_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/settings"
)

// harness is the whole app and the secrets as the run worker gets them.
type harness struct {
	*apptest.App
	runs access.Secrets
}

func start(t *testing.T, s *settings.Settings) *harness {
	t.Helper()
	h := &harness{}
	h.App = apptest.StartWith(t, s, fx.Populate(&h.runs))
	return h
}

func path(pid, name string) string { return "/v1/projects/" + pid + "/secrets/" + name }

func (h *harness) put(token, pid, name string, body any) *apptest.Response {
	return h.Do(apptest.Request{Method: http.MethodPut, Path: path(pid, name), Token: token, Body: body})
}

func (h *harness) putValue(t *testing.T, token, pid, name, value string) {
	t.Helper()
	res := h.put(token, pid, name, map[string]any{"value": value})
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	require.Empty(t, res.Body)
}

// values returns a project's secrets as the worker sees them.
func (h *harness) values(t *testing.T, pid string) map[string]string {
	t.Helper()
	list, err := h.runs.RunSecrets(context.Background(), pid)
	require.NoError(t, err)
	out := map[string]string{}
	for _, s := range list {
		out[s.Name] = s.Value
	}
	return out
}

func names(t *testing.T, res *apptest.Response) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var out []string
	for _, it := range res.JSON(t)["items"].([]any) {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return out
}

func TestSecretsOnJSON(t *testing.T) {
	h := start(t, apptest.Settings(t))
	t.Run("lifecycle", func(t *testing.T) { lifecycleFlow(t, h) })
	t.Run("ownership", func(t *testing.T) { ownershipFlow(t, h) })
	t.Run("validation", func(t *testing.T) { validationFlow(t, h) })
	t.Run("limits", func(t *testing.T) { limitsFlow(t, h) })
}

func TestSecretsOnPostgres(t *testing.T) {
	h := start(t, apptest.Settings(t, apptest.Postgres(t)))
	t.Run("lifecycle", func(t *testing.T) { lifecycleFlow(t, h) })
	t.Run("ownership", func(t *testing.T) { ownershipFlow(t, h) })
	t.Run("validation", func(t *testing.T) { validationFlow(t, h) })
	t.Run("limits", func(t *testing.T) { limitsFlow(t, h) })
}

func lifecycleFlow(t *testing.T, h *harness) {
	u := h.SignUp()
	pid := h.CreateProject(u.Token)

	h.putValue(t, u.Token, pid, "OPENAI_API_KEY", "sk-first-value")
	h.putValue(t, u.Token, pid, "GITHUB_TOKEN", "ghp_0123456789")
	res := h.Get("/v1/projects/"+pid+"/secrets", u.Token)
	require.Equal(t, []string{"OPENAI_API_KEY", "GITHUB_TOKEN"}, names(t, res), "oldest first")
	body := res.JSON(t)
	require.Nil(t, body["next_cursor"])
	first := body["items"].([]any)[0].(map[string]any)
	require.ElementsMatch(t, []string{"name", "created_at", "updated_at"}, keysOf(first), "names and times, never a value")
	require.Equal(t, first["created_at"], first["updated_at"])
	require.NotContains(t, string(res.Body), "sk-first-value")
	require.Equal(t, map[string]string{"OPENAI_API_KEY": "sk-first-value", "GITHUB_TOKEN": "ghp_0123456789"}, h.values(t, pid))

	// PUT again replaces the value; the secret keeps its place and creation.
	h.putValue(t, u.Token, pid, "OPENAI_API_KEY", "sk-second-value")
	res = h.Get("/v1/projects/"+pid+"/secrets", u.Token)
	require.Equal(t, []string{"OPENAI_API_KEY", "GITHUB_TOKEN"}, names(t, res))
	again := res.JSON(t)["items"].([]any)[0].(map[string]any)
	require.Equal(t, first["created_at"], again["created_at"])
	created, err := time.Parse(time.RFC3339Nano, again["created_at"].(string))
	require.NoError(t, err)
	updated, err := time.Parse(time.RFC3339Nano, again["updated_at"].(string))
	require.NoError(t, err)
	require.False(t, updated.Before(created))
	require.Equal(t, "sk-second-value", h.values(t, pid)["OPENAI_API_KEY"])

	res = h.Delete(path(pid, "OPENAI_API_KEY"), u.Token)
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	require.Empty(t, res.Body)
	require.Equal(t, []string{"GITHUB_TOKEN"}, names(t, h.Get("/v1/projects/"+pid+"/secrets", u.Token)))
	res = h.Delete(path(pid, "OPENAI_API_KEY"), u.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Equal(t, "not_found", res.ErrorCode(t))
	require.Contains(t, string(res.Body), "secret OPENAI_API_KEY not found")
	require.Equal(t, http.StatusNotFound, h.Delete(path(pid, "not-a-name"), u.Token).Status)

	// A project's secrets go with it.
	require.Equal(t, http.StatusNoContent, h.Delete("/v1/projects/"+pid, u.Token).Status)
	require.Empty(t, h.values(t, pid))
	res = h.Get("/v1/projects/"+pid+"/secrets", u.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Contains(t, string(res.Body), "project "+pid)
	res = h.put(u.Token, pid, "KEY", map[string]any{"value": "a value"})
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Contains(t, string(res.Body), "project "+pid)
}

// ownershipFlow: the owner and root write; operators read names only and
// get 403 on writes; anyone else finds nothing; no token is a 401.
func ownershipFlow(t *testing.T, h *harness) {
	owner, stranger := h.SignUp(), h.SignUp()
	operator, root := h.CreateUser("operator"), h.CreateUser("root")
	pid := h.CreateProject(owner.Token)
	h.putValue(t, owner.Token, pid, "KEY", "owner's value")

	for _, res := range []*apptest.Response{
		h.put(stranger.Token, pid, "KEY", map[string]any{"value": "stranger's value"}),
		h.Get("/v1/projects/"+pid+"/secrets", stranger.Token),
		h.Delete(path(pid, "KEY"), stranger.Token),
	} {
		require.Equal(t, http.StatusNotFound, res.Status, "%s", res.Body)
		require.Contains(t, string(res.Body), "project "+pid+" not found")
	}

	require.Equal(t, []string{"KEY"}, names(t, h.Get("/v1/projects/"+pid+"/secrets", operator.Token)), "operators read names")
	for _, res := range []*apptest.Response{
		h.put(operator.Token, pid, "KEY", map[string]any{"value": "operator's value"}),
		h.put(operator.Token, pid, "NEW", map[string]any{"value": "operator's value"}),
		h.Delete(path(pid, "KEY"), operator.Token),
	} {
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		require.Equal(t, "forbidden", res.ErrorCode(t))
		require.Equal(t, "root", res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["required_group"])
	}
	require.Equal(t, map[string]string{"KEY": "owner's value"}, h.values(t, pid), "nothing changed")

	h.putValue(t, root.Token, pid, "KEY", "root's value")
	h.putValue(t, root.Token, pid, "ROOTS", "root's other value")
	require.Equal(t, http.StatusNoContent, h.Delete(path(pid, "ROOTS"), root.Token).Status)
	require.Equal(t, map[string]string{"KEY": "root's value"}, h.values(t, pid))

	for _, res := range []*apptest.Response{
		h.put("", pid, "KEY", map[string]any{"value": "anonymous"}),
		h.Get("/v1/projects/"+pid+"/secrets", ""),
		h.Delete(path(pid, "KEY"), ""),
	} {
		require.Equal(t, http.StatusUnauthorized, res.Status)
		require.Equal(t, "invalid_token", res.ErrorCode(t))
	}
	res := h.Get("/v1/projects/prj_junk/secrets", owner.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
}

func validationFlow(t *testing.T, h *harness) {
	u := h.SignUp()
	pid := h.CreateProject(u.Token)
	ok := map[string]any{"value": "a good value"}

	fieldOf := func(t *testing.T, res *apptest.Response) (string, string) {
		t.Helper()
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
		require.Equal(t, "validation_error", res.ErrorCode(t))
		fields := res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["fields"].([]any)
		require.Len(t, fields, 1, "%s", res.Body)
		f := fields[0].(map[string]any)
		return f["field"].(string), f["reason"].(string)
	}
	for _, name := range []string{"lower", "Mixed", "1STARTS_WITH_DIGIT", "HAS-DASH", "HAS.DOT", strings.Repeat("A", 65)} {
		field, _ := fieldOf(t, h.put(u.Token, pid, name, ok))
		require.Equal(t, "name", field, name)
	}
	for _, name := range []string{"SLIPWAY_PROMPT", "SLIPWAY_ANYTHING", "PATH", "HOME", "HTTP_PROXY", "HTTPS_PROXY",
		"NO_PROXY", "ALL_PROXY", "LD_PRELOAD", "LD_LIBRARY_PATH", "SHELL", "USER", "BASH_ENV"} {
		field, reason := fieldOf(t, h.put(u.Token, pid, name, ok))
		require.Equal(t, "name", field, name)
		require.Contains(t, reason, "reserved", name)
	}
	for _, name := range []string{"A", "_", "_PRIVATE", "OPENAI_API_KEY", "K8S_TOKEN", strings.Repeat("A", 64), "PATHS", "MY_HOME"} {
		h.putValue(t, u.Token, pid, name, "a good value")
	}

	for body, want := range map[string]string{
		`{}`:                             "is required",
		`{"value": null}`:                "is required",
		`{"value": ""}`:                  "is required",
		`{"value": "abc"}`:               "at least 4 bytes",
		`{"value": "a\u0000b"}`:          "NUL",
		`{"value": 1234}`:                "must be a string",
		`{"value": "abcd", "name": "X"}`: "unknown field",
	} {
		field, reason := fieldOf(t, h.Do(apptest.Request{Method: http.MethodPut, Path: path(pid, "KEY"), Token: u.Token, Body: body}))
		require.Contains(t, []string{"value", "name"}, field, body)
		require.Contains(t, reason, want, body)
	}
	field, reason := fieldOf(t, h.put(u.Token, pid, "KEY", map[string]any{"value": strings.Repeat("v", secrets.MaxValueBytes+1)}))
	require.Equal(t, "value", field)
	require.Contains(t, reason, "at most 65536 bytes")
	h.putValue(t, u.Token, pid, "BIG", strings.Repeat("v", secrets.MaxValueBytes))

	res := h.Do(apptest.Request{Method: http.MethodPut, Path: path(pid, "KEY"), Token: u.Token, Body: "not json"})
	require.Equal(t, http.StatusBadRequest, res.Status)
	res = h.Do(apptest.Request{Method: http.MethodPut, Path: path(pid, "KEY"), Token: u.Token, Body: `{"value":"abcd"}`,
		Header: map[string]string{"Content-Type": "text/plain"}})
	require.Equal(t, http.StatusUnsupportedMediaType, res.Status)
	_, err := h.runs.RunSecrets(context.Background(), pid)
	require.NoError(t, err)
	require.NotContains(t, h.values(t, pid), "KEY", "nothing refused was stored")
}

// limitsFlow: at most 100 secrets and 256 KiB of values a project; a
// replacement needs no room, and another project has its own.
func limitsFlow(t *testing.T, h *harness) {
	u := h.SignUp()
	pid := h.CreateProject(u.Token)
	for i := range secrets.MaxPerProject {
		h.putValue(t, u.Token, pid, fmt.Sprintf("S%03d", i), "value")
	}
	res := h.put(u.Token, pid, "ONE_MORE", map[string]any{"value": "value"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	require.Contains(t, string(res.Body), "already has 100 secrets")
	h.putValue(t, u.Token, pid, "S000", "a replacement")
	require.Equal(t, http.StatusNoContent, h.Delete(path(pid, "S001"), u.Token).Status)
	h.putValue(t, u.Token, pid, "ONE_MORE", "value")
	require.Len(t, h.values(t, pid), secrets.MaxPerProject)

	big := h.CreateProject(u.Token)
	for i := range secrets.MaxProjectBytes / secrets.MaxValueBytes {
		h.putValue(t, u.Token, big, fmt.Sprint("BIG", i), strings.Repeat("v", secrets.MaxValueBytes))
	}
	res = h.put(u.Token, big, "SMALL", map[string]any{"value": "1234"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	require.Contains(t, string(res.Body), `"field":"value"`)
	require.Contains(t, string(res.Body), "262148 bytes together, more than the 262144")
	h.putValue(t, u.Token, big, "BIG0", strings.Repeat("w", secrets.MaxValueBytes))
	h.putValue(t, u.Token, big, "BIG1", "now small")
	h.putValue(t, u.Token, big, "SMALL", "1234")
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPaginationOfNames pages through a project's secrets with limit and
// cursor.
func TestPaginationOfNames(t *testing.T) {
	h := start(t, apptest.Settings(t))
	u := h.SignUp()
	pid := h.CreateProject(u.Token)
	var want []string
	for i := range 7 {
		n := fmt.Sprint("S", i)
		h.putValue(t, u.Token, pid, n, "value")
		want = append(want, n)
	}
	var got []string
	next := ""
	for range 10 {
		q := "/v1/projects/" + pid + "/secrets?limit=3"
		if next != "" {
			q += "&cursor=" + next
		}
		res := h.Get(q, u.Token)
		got = append(got, names(t, res)...)
		c, _ := res.JSON(t)["next_cursor"].(string)
		if c == "" {
			break
		}
		next = c
	}
	require.Equal(t, want, got)
	res := h.Get("/v1/projects/"+pid+"/secrets?limit=0", u.Token)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
}
