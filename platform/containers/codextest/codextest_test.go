package codextest_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// TestImages runs Codex from the base image the way Slipway runs agents
// (read-only root, nobody, no capabilities, no network), and a derived
// image's file and variable.
func TestImages(t *testing.T) {
	rt := containertest.Runtime(t, containers.Config{})
	base := codextest.BaseImage(t, rt)
	img := codextest.Derive(t, rt, base, map[string]string{"GREETING": "hello there"},
		codextest.File{Path: "/etc/codex/config.toml", Body: codextest.Config("https://192.0.2.1:1/v1", "m")})
	instance := containertest.Instance(t, rt)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, logs, err := rt.StartAttached(ctx, containers.Spec{
		Image: img, Cmd: []string{"sh", "-c", `codex --version; touch "$HOME/x" && echo "home=$HOME"; echo "$GREETING"; grep -c mock /etc/codex/config.toml`},
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
	require.Contains(t, string(out), "home="+codextest.Home+"\nhello there\n3\n")

	info, err := rt.Client().ImageInspect(ctx, base)
	require.NoError(t, err)
	t.Logf("base image %s: %d MB", base, info.Size>>20)
}
