package runs_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// rebinding answers a public address on the first lookup and loopback on
// every later one: DNS rebinding, as a hostile repository host would do it.
type rebinding struct{ calls *atomic.Int32 }

func (r rebinding) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestURLIsCheckedAgainBeforeTheClone registers a repository whose host
// resolves to a public address, then lets it resolve to loopback: the run
// fails on the URL policy before any clone is tried.
func TestURLIsCheckedAgainBeforeTheClone(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript),
		func(s *settings.Settings) { s.Runs.AllowPrivateHosts = false })
	calls := &atomic.Int32{}
	h := &harness{rt: rt, image: image}
	h.App = apptest.StartWith(t, s, runModules(&h.svc, &h.worker),
		fx.Supply(fx.Annotate(rebinding{calls}, fx.As(new(workspace.Resolver)))))
	u := h.SignUp()
	project := h.Post("/v1/projects", u.Token, map[string]any{"name": "rebinding"}).JSON(t)["id"].(string)
	res := h.Post("/v1/projects/"+project+"/repositories", u.Token, map[string]any{"url": "https://git.example.test/demo.git"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	repo := res.JSON(t)["id"].(string)

	run := h.create(t, u, repo, map[string]any{"prompt": "hello"})
	done := h.wait(t, u, run.ID, terminal)
	require.Equal(t, "failed", done.Status)
	require.NotNil(t, done.Error)
	require.True(t, strings.Contains(*done.Error, "no longer allowed"), "error: %s", *done.Error)
	require.GreaterOrEqual(t, calls.Load(), int32(2), "looked up at registration and again before the clone")
}
