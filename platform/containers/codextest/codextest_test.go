package codextest_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/configs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/codextest"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
)

func TestLoadPin(t *testing.T) {
	pin, err := codextest.LoadPin()
	require.NoError(t, err)
	require.Contains(t, pin.Tarball, "codex-"+pin.Version+"-linux-x64.tgz", "the tarball is the pinned version's")
	path, err := pin.CachePath()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(path, "/slipway/codex-"+pin.Version+"-linux-x64.tgz"), path)
}

// TestConfig: the test's Codex configuration is production's, but for the
// model and where it is.
func TestConfig(t *testing.T) {
	cfg, err := codextest.Config("https://192.0.2.1:8443/v1", "gpt-test")
	require.NoError(t, err)
	prod, err := configs.Agent.ReadFile("agent/config.toml")
	require.NoError(t, err)
	require.Contains(t, string(cfg), "\nmodel = \"gpt-test\"\n")
	require.Contains(t, string(cfg), "\nbase_url = \"https://192.0.2.1:8443/v1\"\n")
	require.NotContains(t, string(cfg), "api.openai.com/v1\"\n")
	require.Contains(t, string(cfg), "unbounded_connection_retries = false\n")
	removed := func(b []byte) []string {
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "model = ") && !strings.HasPrefix(l, "base_url = ") {
				keep = append(keep, l)
			}
		}
		return keep
	}
	require.Equal(t, removed(prod), removed(cfg), "nothing else changes")

	cfg, err = codextest.Config("https://192.0.2.1:8443/v1", "")
	require.NoError(t, err)
	require.Equal(t, strings.Replace(string(prod), `"https://api.openai.com/v1"`, `"https://192.0.2.1:8443/v1"`, 1), string(cfg),
		"without a model, only base_url changes")
}

// TestImages runs Codex from the base image the way Slipway runs agents
// (read-only root, nobody, no capabilities, no network), with the
// code-mode host beside codex, and a derived image's file and variable.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("imports a 370 MB image the first time")
	}
	rt := containertest.Runtime(t, containers.Config{})
	base := codextest.BaseImage(t, rt)
	cfg, err := codextest.Config("https://192.0.2.1:1/v1", "m")
	require.NoError(t, err)
	img := codextest.Derive(t, rt, base, map[string]string{"GREETING": "hello there"},
		codextest.File{Path: "/etc/codex/config.toml", Body: cfg})
	instance := containertest.Instance(t, rt)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, logs, err := rt.StartAttached(ctx, containers.Spec{
		Image: img, Cmd: []string{"sh", "-c", `codex --version; touch "$HOME/x" && echo "home=$HOME"; echo "$GREETING"; grep -c 192.0.2.1 /etc/codex/config.toml; echo "codex_home=$CODEX_HOME"; ls /opt/codex/bin/codex-code-mode-host`},
		Workspace: containertest.Workspace(t), RunID: "codextest", InstanceID: instance,
	})
	require.NoError(t, err)
	defer logs.Close()
	out, err := io.ReadAll(logs)
	require.NoError(t, err)
	exit, err := rt.Wait(ctx, id)
	require.NoError(t, err)
	pin, _ := codextest.LoadPin()
	require.Equal(t, 0, exit.Code, "%s", out)
	require.Contains(t, string(out), "codex-cli "+pin.Version+"\n")
	require.Contains(t, string(out), "home="+codextest.Home+"\nhello there\n1\ncodex_home="+codextest.Home+"\n/opt/codex/bin/codex-code-mode-host\n")

	info, err := rt.Client().ImageInspect(ctx, base)
	require.NoError(t, err)
	t.Logf("base image %s: %d MB", base, info.Size>>20)
}
