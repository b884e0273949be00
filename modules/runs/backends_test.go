package runs_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// TestRunsOnEveryBackend runs a run on the JSON store with local objects,
// on PostgreSQL with local objects and on PostgreSQL with S3 (an S3 protocol
// server on loopback), then deletes its repository (JSON) or project
// (PostgreSQL, by cascade) and requires the run and its objects gone.
func TestRunsOnEveryBackend(t *testing.T) {
	local := func(h *harness) objects.Store {
		store, err := objects.NewLocal(filepath.Join(h.Settings.Storage.DataDir, "objects"))
		require.NoError(t, err)
		return store
	}
	var s3cfg objects.S3Config
	backends := []struct {
		name     string
		opts     func(t *testing.T) []apptest.Option
		deletion func(r repository) string
		objects  func(h *harness) objects.Store
	}{
		{"json", func(*testing.T) []apptest.Option { return nil },
			func(r repository) string { return "/v1/repositories/" + r.ID }, local},
		{"postgres", func(t *testing.T) []apptest.Option { return []apptest.Option{apptest.Postgres(t)} },
			func(r repository) string { return "/v1/projects/" + r.ProjectID }, local},
		{"postgres+s3", func(t *testing.T) []apptest.Option {
			opt, cfg := apptest.S3(t)
			s3cfg = cfg
			return []apptest.Option{apptest.Postgres(t), opt}
		}, func(r repository) string { return "/v1/projects/" + r.ProjectID }, func(*harness) objects.Store {
			store, err := objects.NewS3(s3cfg)
			require.NoError(t, err)
			return store
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			h := start(t, b.opts(t)...)
			u := h.SignUp()
			repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
			r := h.create(t, u, repo.ID, map[string]any{"prompt": "hello"})
			done := h.wait(t, u, r.ID, terminal)
			require.Equal(t, "succeeded", done.Status)
			require.Equal(t, "main", *done.Branch, "the default branch, named once cloned")
			require.Contains(t, string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body), "+hello\n")

			store := b.objects(h)
			// has reports whether key is stored: only not-found means
			// absent; any other error is returned, to fail the test.
			has := func(key string) (bool, error) {
				rc, err := store.Get(context.Background(), key)
				if errors.Is(err, derrors.ErrNotFound) {
					return false, nil
				}
				if err != nil {
					return false, err
				}
				return true, rc.Close()
			}
			for _, key := range []string{"runs/" + r.ID + "/log", "runs/" + r.ID + "/patch"} {
				present, err := has(key)
				require.NoError(t, err, key)
				require.True(t, present, key)
			}

			require.Equal(t, http.StatusNoContent, h.Delete(b.deletion(repo), u.Token).Status)
			require.Equal(t, http.StatusNotFound, h.Get("/v1/runs/"+r.ID, u.Token).Status)
			var lookupErr error // set by the condition, which runs on another goroutine
			require.Eventually(t, func() bool {
				for _, key := range []string{"runs/" + r.ID + "/log", "runs/" + r.ID + "/patch"} {
					present, err := has(key)
					if err != nil {
						lookupErr = err
						return true // stop polling; the error fails the test below
					}
					if present {
						return false
					}
				}
				return true
			}, 10*time.Second, 50*time.Millisecond, "the deleted run's objects are removed")
			require.NoError(t, lookupErr)
			res := h.Get("/v1/runs", u.Token)
			require.Equal(t, http.StatusOK, res.Status)
			require.Empty(t, res.JSON(t)["items"])
		})
	}
}
