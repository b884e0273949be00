package runs_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// TestOnlyTheOwnerOrRootCancels: operators read every user's runs but, as
// with projects, change none that is not theirs; cancelling is a change.
func TestOnlyTheOwnerOrRootCancels(t *testing.T) {
	h := start(t, func(s *settings.Settings) { s.Runs.MaxConcurrent = 1 })
	owner := h.SignUp()
	op := h.CreateUser("operator")
	root := h.CreateUser("root")
	repo := h.repo(t, owner, map[string]string{"a.txt": "a\n"})
	running := h.create(t, owner, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	queued := h.create(t, owner, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	h.wait(t, owner, running.ID, is("running"))

	requireNeedsRoot := func(res *apptest.Response, what string) {
		t.Helper()
		require.Equal(t, "forbidden", res.ErrorCode(t), what)
		details := res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
		require.Equal(t, "root", details["required_group"], what)
	}
	for _, id := range []string{running.ID, queued.ID} {
		require.Equal(t, http.StatusOK, h.Get("/v1/runs/"+id, op.Token).Status, "operators read every run")
		res := h.Post("/v1/runs/"+id+"/cancel", op.Token, nil)
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		requireNeedsRoot(res, "operator cancelling another user's run")
	}
	require.Equal(t, "running", h.GetRun(owner.Token, running.ID).Status)
	require.Equal(t, "queued", h.GetRun(owner.Token, queued.ID).Status)

	// The same rule as a project's.
	res := h.Patch("/v1/projects/"+repo.ProjectID, op.Token, map[string]any{"name": "mine now"})
	require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	requireNeedsRoot(res, "operator changing another user's project")

	res = h.Post("/v1/runs/"+queued.ID+"/cancel", root.Token, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "root may: %s", res.Body)
	res = h.Post("/v1/runs/"+running.ID+"/cancel", owner.Token, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "the owner may: %s", res.Body)
	require.Equal(t, "canceled", h.wait(t, owner, running.ID, terminal).Status)
}
