package apptest_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// TestDiskFullAnswers503 puts the whole app's data dir on a small
// filesystem and fills it, as an agent writing without end would. Creating
// a project then answers 503 service_unavailable naming the disk
// (retryable), reads keep answering, and once the filler is removed the
// same request answers 201 with no restart. After a restart every project
// that was answered 201 is there, and no other.
func TestDiskFullAnswers503(t *testing.T) {
	mnt := testenv.SmallFS(t, "tmpfs", 8<<20)
	s := apptest.Settings(t, func(s *settings.Settings) { s.Storage.DataDir = mnt })
	a := apptest.StartWith(t, s)
	u := a.SignUp()

	var created []string
	create := func(name string) *apptest.Response {
		t.Helper()
		res := a.Post("/v1/projects", u.Token, map[string]any{"name": name})
		if res.Status == http.StatusCreated {
			created = append(created, name)
		}
		return res
	}
	require.Equal(t, http.StatusCreated, create("before").Status)

	filler := testenv.Fill(t, mnt)
	// Records that still fit in the log's last block may pass; the first
	// one that does not is refused.
	var refused *apptest.Response
	for i := 0; i < 100 && refused == nil; i++ {
		res := create(fmt.Sprintf("while-full-%d", i))
		switch res.Status {
		case http.StatusCreated:
		case http.StatusServiceUnavailable:
			refused = res
		default:
			t.Fatalf("while the disk is full: %d %s", res.Status, res.Body)
		}
	}
	require.NotNil(t, refused, "the disk was full, yet 100 projects were created")
	require.Equal(t, "service_unavailable", refused.ErrorCode(t))
	env := refused.JSON(t)["error"].(map[string]any)
	require.Equal(t, true, env["retryable"])
	require.Equal(t, "disk", env["details"].(map[string]any)["service"])
	t.Logf("refused after %d projects were created on the full disk: %s", len(created)-1, refused.Body)

	// Reads keep working, and the refused project is not among them.
	list := func(a *apptest.App) []string {
		t.Helper()
		res := a.Get("/v1/projects?limit=100", u.Token)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var page struct{ Items []struct{ Name string } }
		res.Decode(t, &page)
		var names []string
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
	want := func() []string { return slices.Sorted(slices.Values(created)) }
	require.Equal(t, want(), list(a))

	// Space comes back: the same request succeeds without a restart.
	require.NoError(t, os.Remove(filler))
	res := create("after")
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)

	a.Stop()
	a = apptest.StartWith(t, s)
	require.Equal(t, want(), list(a))
}
