package runs_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunEditsFileKeepsPatchAndLog(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})

	r := h.create(t, u, repo.ID, map[string]any{"prompt": "add a greeting"})
	require.Equal(t, "queued", r.Status)
	require.Equal(t, repo.ProjectID, r.ProjectID)
	require.Nil(t, r.Branch, "the remote default branch, named once cloned")
	require.Equal(t, 1800, r.TimeoutSeconds)
	require.Nil(t, r.ExitCode)
	require.Nil(t, r.StartedAt)

	// The patch is not there before the run ends.
	if res := h.Get("/v1/runs/"+r.ID+"/patch", u.Token); r.Status != "succeeded" {
		require.Equal(t, http.StatusNotFound, res.Status)
	}

	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)
	require.NotNil(t, done.ExitCode)
	require.Equal(t, 0, *done.ExitCode)
	require.Nil(t, done.Error)
	require.NotNil(t, done.StartedAt)
	require.NotNil(t, done.FinishedAt)
	require.False(t, done.StartedAt.Before(done.CreatedAt))

	res := h.Get("/v1/runs/"+r.ID+"/logs", u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "start\ndone\n", string(res.Body))

	res = h.Get("/v1/runs/"+r.ID+"/patch", u.Token)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, "text/x-diff; charset=utf-8", res.Header.Get("Content-Type"))
	patch := string(res.Body)
	require.Contains(t, patch, "diff --git a/README.md b/README.md")
	require.Contains(t, patch, "--- a/README.md\n+++ b/README.md\n")
	require.Contains(t, patch, " # demo\n+add a greeting\n")
	require.NotContains(t, patch, ".git/")

	require.Empty(t, h.containersOf(t, r.ID), "the container is removed")
}

func TestFailingCommandRecordsExitCode(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: echo oops >&2; echo b >> a.txt; exit 3"})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "failed", done.Status)
	require.Equal(t, 3, *done.ExitCode)
	require.Equal(t, "the agent exited with code 3", *done.Error)
	// stdout and stderr are merged in the order Docker recorded them, which
	// between two streams written at once is not fixed.
	logs := string(h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body)
	require.ElementsMatch(t, []string{"start", "oops", ""}, strings.Split(logs, "\n"))
	// A failed run still keeps what it changed.
	patch := string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body)
	require.Contains(t, patch, " a\n+b\n")
}

func TestCloneFailureFailsTheRun(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "x", "branch": "no-such-branch"})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "failed", done.Status)
	require.Contains(t, *done.Error, `branch "no-such-branch" not found`)
	require.Nil(t, done.StartedAt)
	require.Equal(t, http.StatusNotFound, h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Status)
}

func TestEmptyChangeStoresEmptyPatch(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	require.Equal(t, "succeeded", h.wait(t, u, r.ID, terminal).Status)
	res := h.Get("/v1/runs/"+r.ID+"/patch", u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Empty(t, strings.TrimSpace(string(res.Body)))
}
