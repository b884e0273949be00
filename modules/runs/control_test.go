package runs_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/settings"
)

func TestTimeoutStopsTheContainer(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: echo b >> a.txt; sleep 60", "timeout_seconds": 2})
	require.Equal(t, 2, r.TimeoutSeconds)
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "timed_out", done.Status)
	require.Equal(t, "the run exceeded its timeout of 2 seconds", *done.Error)
	require.Empty(t, h.containersOf(t, r.ID))
	// A timed-out run keeps what it changed so far.
	require.Contains(t, string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body), " a\n+b\n")
}

func TestCancel(t *testing.T) {
	h := start(t, func(s *settings.Settings) { s.Runs.MaxConcurrent = 1 })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	running := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	queued := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
	h.wait(t, u, running.ID, is("running"))
	require.Len(t, h.containersOf(t, running.ID), 1)

	// A queued run is canceled at once.
	res := h.Post("/v1/runs/"+queued.ID+"/cancel", u.Token, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	var got apptest.Run
	res.Decode(t, &got)
	require.Equal(t, "canceled", got.Status)
	require.NotNil(t, got.FinishedAt)

	// A running one has its container stopped.
	res = h.Post("/v1/runs/"+running.ID+"/cancel", u.Token, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	done := h.wait(t, u, running.ID, terminal)
	require.Equal(t, "canceled", done.Status)
	require.Equal(t, "canceled by request", *done.Error)
	require.Empty(t, h.containersOf(t, running.ID))

	// Terminal runs cannot be canceled; the queued one never ran.
	for _, id := range []string{running.ID, queued.ID} {
		res = h.Post("/v1/runs/"+id+"/cancel", u.Token, nil)
		require.Equal(t, http.StatusConflict, res.Status)
		require.Equal(t, "run_finished", res.ErrorCode(t))
	}
	require.Nil(t, h.GetRun(u.Token, queued.ID).StartedAt)
}

// TestConcurrencyLimit holds the first run until the test releases it (its
// agent waits for a file the test writes into its workspace), so the one
// slot is taken for as long as the test needs, whatever the machine's speed.
func TestConcurrencyLimit(t *testing.T) {
	h := start(t, func(s *settings.Settings) { s.Runs.MaxConcurrent = 1 })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	first := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: until [ -e released ]; do sleep 0.05; done"})
	second := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	h.wait(t, u, first.ID, is("running"))

	// While the first is held, the second stays queued.
	require.Equal(t, 1, h.worker.ActiveRuns())
	require.Equal(t, "queued", h.GetRun(u.Token, second.ID).Status)
	release(t, h, first.ID)

	a := h.wait(t, u, first.ID, terminal)
	b := h.wait(t, u, second.ID, terminal)
	require.Equal(t, "succeeded", a.Status)
	require.Equal(t, "succeeded", b.Status)
	require.False(t, b.StartedAt.Before(*a.FinishedAt), "the second started after the first finished")
}

// release writes the file "released" into the workspace of run's container.
func release(t *testing.T, h *harness, runID string) {
	t.Helper()
	list := h.containersOf(t, runID)
	require.Len(t, list, 1)
	info, err := h.rt.Client().ContainerInspect(context.Background(), list[0].ID)
	require.NoError(t, err)
	for _, m := range info.Mounts {
		if m.Destination == containers.WorkspaceDir {
			require.NoError(t, os.WriteFile(filepath.Join(m.Source, "released"), nil, 0o644))
			return
		}
	}
	t.Fatalf("run %s: no %s mount", runID, containers.WorkspaceDir)
}

func TestQuotaIsAtomic(t *testing.T) {
	h := start(t, func(s *settings.Settings) { s.Runs.MaxConcurrent = 1; s.Runs.MaxActivePerUser = 3 })
	u := h.SignUp()
	other := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	otherRepo := h.repo(t, other, map[string]string{"a.txt": "a\n"})

	// Twelve concurrent creates: exactly three are accepted. The goroutines
	// only send; the test goroutine asserts.
	results := make([]*apptest.Response, 12)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = h.Send(apptest.Request{Method: http.MethodPost, Path: "/v1/repositories/" + repo.ID + "/runs",
				Token: u.Token, Body: map[string]any{"prompt": fmt.Sprintf("sh: sleep 30 # %d", i)}})
		})
	}
	wg.Wait()
	codes := map[int]int{}
	var ids []string
	for i, res := range results {
		require.NoError(t, errs[i])
		codes[res.Status]++
		switch res.Status {
		case http.StatusAccepted:
			var r apptest.Run
			res.Decode(t, &r)
			ids = append(ids, r.ID)
		case http.StatusTooManyRequests:
			require.Equal(t, "quota_exceeded", res.ErrorCode(t))
			require.Equal(t, "30", res.Header.Get("Retry-After"))
			require.Equal(t, true, res.JSON(t)["error"].(map[string]any)["retryable"])
		}
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 3, http.StatusTooManyRequests: 9}, codes)

	// Another user has their own quota.
	h.create(t, other, otherRepo.ID, map[string]any{"prompt": "sh: true"})

	// Ending a run frees a slot.
	require.Equal(t, http.StatusAccepted, h.Post("/v1/runs/"+ids[0]+"/cancel", u.Token, nil).Status)
	h.wait(t, u, ids[0], terminal)
	h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	for _, id := range ids[1:] {
		h.Post("/v1/runs/"+id+"/cancel", u.Token, nil)
	}
}

func TestIdempotencyKey(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	other := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	otherRepo := h.repo(t, other, map[string]string{"a.txt": "a\n"})
	post := func(user apptest.User, repoID, key string, body map[string]any) *apptest.Response {
		return h.Do(apptest.Request{Method: http.MethodPost, Path: "/v1/repositories/" + repoID + "/runs",
			Token: user.Token, Body: body, Header: map[string]string{"Idempotency-Key": key}})
	}
	body := map[string]any{"prompt": "sh: true", "timeout_seconds": 60}

	res := post(u, repo.ID, "key-1", body)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	first := res.JSON(t)["id"]

	res = post(u, repo.ID, "key-1", body)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, first, res.JSON(t)["id"])
	require.Equal(t, "true", res.Header.Get("Idempotent-Replayed"))

	res = post(u, repo.ID, "key-1", map[string]any{"prompt": "sh: false", "timeout_seconds": 60})
	require.Equal(t, http.StatusConflict, res.Status)
	require.Equal(t, "conflict", res.ErrorCode(t))

	// Keys are per user.
	res = post(other, otherRepo.ID, "key-1", body)
	require.Equal(t, http.StatusAccepted, res.Status)
	require.NotEqual(t, first, res.JSON(t)["id"])

	for _, key := range []string{strings.Repeat("k", 256), "tab\there", "caf\u00e9"} {
		res = post(u, repo.ID, key, body)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "key %q", key)
	}

	// One run per key even under concurrent retries: one creates it (202),
	// every other replays it (200); nothing else is acceptable.
	results := make([]*apptest.Response, 8)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = h.Send(apptest.Request{Method: http.MethodPost, Path: "/v1/repositories/" + repo.ID + "/runs",
				Token: u.Token, Body: body, Header: map[string]string{"Idempotency-Key": "key-2"}})
		})
	}
	wg.Wait()
	codes := map[int]int{}
	seen := map[string]bool{}
	for i, res := range results {
		require.NoError(t, errs[i])
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, res.Status, "%s", res.Body)
		codes[res.Status]++
		seen[res.JSON(t)["id"].(string)] = true
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusOK: len(results) - 1}, codes)
	require.Len(t, seen, 1)
}

func TestValidation(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	path := "/v1/repositories/" + repo.ID + "/runs"
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"no prompt", map[string]any{}, "prompt"},
		{"blank prompt", map[string]any{"prompt": "  "}, "prompt"},
		{"huge prompt", map[string]any{"prompt": strings.Repeat("x", 64<<10+1)}, "prompt"},
		{"nul", map[string]any{"prompt": "a\u0000b"}, "prompt"},
		{"option branch", map[string]any{"prompt": "p", "branch": "--upload-pack=x"}, "branch"},
		{"dotdot branch", map[string]any{"prompt": "p", "branch": "a/../b"}, "branch"},
		{"zero timeout", map[string]any{"prompt": "p", "timeout_seconds": 0}, "timeout_seconds"},
		{"long timeout", map[string]any{"prompt": "p", "timeout_seconds": 7201}, "timeout_seconds"},
		{"status", map[string]any{"prompt": "p", "status": "succeeded"}, "status"},
		{"owner", map[string]any{"prompt": "p", "owner_id": "usr_x"}, "owner_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.Post(path, u.Token, tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			require.Equal(t, "validation_error", res.ErrorCode(t))
			require.Contains(t, string(res.Body), `"field":"`+tt.field+`"`)
		})
	}
	require.Equal(t, http.StatusUnsupportedMediaType, h.Do(apptest.Request{Method: http.MethodPost, Path: path,
		Token: u.Token, Body: "prompt=x", Header: map[string]string{"Content-Type": "text/plain"}}).Status)
	require.Equal(t, http.StatusUnauthorized, h.Post(path, "", map[string]any{"prompt": "p"}).Status)
	require.Equal(t, http.StatusNotFound, h.Post("/v1/repositories/rep_nope/runs", u.Token, map[string]any{"prompt": "p"}).Status)

	for _, q := range []string{"status=done", "limit=0", "cursor=zzz", "project_id=x", "all=maybe"} {
		res := h.Get("/v1/runs?"+q, u.Token)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", q, res.Body)
	}
	require.Equal(t, http.StatusForbidden, h.Get("/v1/runs?all=true", u.Token).Status)

	doc := h.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, doc.Status)
	for _, want := range []string{"createRun", "listRuns", "getRun", "cancelRun", "getRunLogs", "getRunPatch",
		"listContainers", "cleanupContainers", "text/event-stream", "text/x-diff", "Idempotency-Key"} {
		require.Contains(t, string(doc.Body), want)
	}
	require.Equal(t, http.StatusUnprocessableEntity, h.Get("/v1/runs/run_01m8bcna7wd9z8hepnb1whm2tb/logs?follow=yes", u.Token).Status)
}

func TestOwnershipAndListing(t *testing.T) {
	h := start(t)
	owner := h.SignUp()
	stranger := h.SignUp()
	op := h.CreateUser("operator")
	repo := h.repo(t, owner, map[string]string{"a.txt": "a\n"})
	repo2 := h.repo(t, owner, map[string]string{"a.txt": "a\n"})

	var ids []string
	for i := range 5 {
		id := repo.ID
		if i%2 == 1 {
			id = repo2.ID
		}
		ids = append(ids, h.create(t, owner, id, map[string]any{"prompt": "sh: true # " + strconv.Itoa(i)}).ID)
	}
	for _, id := range ids {
		h.wait(t, owner, id, terminal)
	}
	r := ids[0]
	for _, p := range []string{"", "/logs", "/patch", "/logs?follow=true"} {
		res := h.Get("/v1/runs/"+r+p, stranger.Token)
		require.Equal(t, http.StatusNotFound, res.Status, "stranger %s", p)
		require.Equal(t, "not_found", res.ErrorCode(t))
	}
	require.Equal(t, http.StatusNotFound, h.Post("/v1/runs/"+r+"/cancel", stranger.Token, nil).Status)
	// Another user's repository is not found either.
	require.Equal(t, http.StatusNotFound, h.Post("/v1/repositories/"+repo.ID+"/runs", stranger.Token, map[string]any{"prompt": "p"}).Status)
	require.Equal(t, http.StatusOK, h.Get("/v1/runs/"+r, op.Token).Status, "operators read every run")
	require.Equal(t, http.StatusForbidden, h.Post("/v1/repositories/"+repo.ID+"/runs", op.Token, map[string]any{"prompt": "p"}).Status)

	list := func(token, q string) ([]string, *string) {
		res := h.Get("/v1/runs?"+q, token)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var out struct {
			Items      []apptest.Run `json:"items"`
			NextCursor *string       `json:"next_cursor"`
		}
		res.Decode(t, &out)
		var got []string
		for _, it := range out.Items {
			got = append(got, it.ID)
		}
		return got, out.NextCursor
	}
	got, _ := list(owner.Token, "")
	require.Equal(t, ids, got)
	got, _ = list(stranger.Token, "")
	require.Empty(t, got)
	got, _ = list(owner.Token, "repository_id="+repo2.ID)
	require.Equal(t, []string{ids[1], ids[3]}, got)
	got, _ = list(owner.Token, "project_id="+repo.ProjectID+"&status=succeeded")
	require.Equal(t, []string{ids[0], ids[2], ids[4]}, got)
	got, _ = list(owner.Token, "status=failed")
	require.Empty(t, got)
	got, _ = list(op.Token, "all=true&repository_id="+repo.ID)
	require.Equal(t, []string{ids[0], ids[2], ids[4]}, got)

	// Pages of two, filtered, follow each other without gaps.
	var paged []string
	cursor := ""
	for {
		q := "limit=2&status=succeeded"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		page, next := list(owner.Token, q)
		paged = append(paged, page...)
		if next == nil {
			break
		}
		cursor = *next
	}
	require.Equal(t, ids, paged)
}
