package runs_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// The guard tests run an API-only instance: runs are accepted and stay
// queued, so no Docker is needed to see what a create accepts.

// apiOnly boots the app without executing runs; edit changes the settings.
func apiOnly(t *testing.T, edit func(*settings.Settings)) *harness {
	t.Helper()
	h := &harness{}
	s := apptest.Settings(t, func(s *settings.Settings) { s.Runs.Execute = false; edit(s) })
	h.App = apptest.StartWith(t, s, runModules(&h.svc, &h.worker))
	return h
}

func TestPromptCap(t *testing.T) {
	h := apiOnly(t, func(s *settings.Settings) { s.Runs.MaxPromptBytes = 1000; s.Runs.MaxActivePerUser = 100 })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	path := "/v1/repositories/" + repo.ID + "/runs"

	h.create(t, u, repo.ID, map[string]any{"prompt": strings.Repeat("x", 1000)})
	for name, prompt := range map[string]string{
		"one byte over":               strings.Repeat("x", 1001),
		"500 characters, 1000+ bytes": strings.Repeat("é", 501),
		"almost the body limit":       strings.Repeat("x", 1<<20-100),
	} {
		t.Run(name, func(t *testing.T) {
			res := h.Post(path, u.Token, map[string]any{"prompt": prompt})
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			require.Equal(t, "validation_error", res.ErrorCode(t))
			require.Contains(t, string(res.Body), `{"field":"prompt","reason":"must be at most 1000 bytes (runs.max_prompt_bytes)"}`)
		})
	}
}

// TestIdempotencyKeysPerUser makes more keyed runs than a user may hold
// keys: the oldest key expires (its request makes a new run), the newest
// still replays, and no create is refused for it.
func TestIdempotencyKeysPerUser(t *testing.T) {
	h := apiOnly(t, func(s *settings.Settings) { s.Runs.MaxIdempotencyKeys = 2; s.Runs.MaxActivePerUser = 100 })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	post := func(key string) (int, string) {
		res := h.Do(apptest.Request{Method: http.MethodPost, Path: "/v1/repositories/" + repo.ID + "/runs",
			Token: u.Token, Body: map[string]any{"prompt": "p"}, Header: map[string]string{"Idempotency-Key": key}})
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, res.Status, "%s", res.Body)
		return res.Status, res.JSON(t)["id"].(string)
	}
	_, first := post("key-1")
	post("key-2")
	post("key-3")

	status, _ := post("key-3")
	require.Equal(t, http.StatusOK, status, "the newest keys replay")
	status, again := post("key-1")
	require.Equal(t, http.StatusAccepted, status, "the oldest key expired")
	require.NotEqual(t, first, again)
	require.Equal(t, http.StatusOK, h.Get("/v1/runs/"+first, u.Token).Status, "its run stays")
	status, _ = post("key-2")
	require.Equal(t, http.StatusAccepted, status, "key-1's new run pushed key-2 out")
}
