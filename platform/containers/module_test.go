package containers_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
)

func runSettings(host string) *settings.Settings {
	return &settings.Settings{
		Docker: settings.Docker{Host: host},
		Runs: settings.Runs{User: "1000:1000", MemoryBytes: 64 << 20, CPUs: 0.5, PidsLimit: 64,
			ReadOnlyRootfs: true},
	}
}

func TestConfigFromSettings(t *testing.T) {
	cfg, err := containers.ConfigFromSettings(runSettings("tcp://127.0.0.1:2375"))
	require.NoError(t, err)
	require.Equal(t, containers.Config{Host: "tcp://127.0.0.1:2375", User: "1000:1000",
		MemoryBytes: 64 << 20, NanoCPUs: 500_000_000, PidsLimit: 64}, cfg)

	tests := map[string]func(*settings.Settings){
		"runs.read_only_rootfs": func(s *settings.Settings) { s.Runs.ReadOnlyRootfs = false },
		"root":                  func(s *settings.Settings) { s.Runs.User = "0" },
		"SLIPWAY_DOCKER_HOST":   func(s *settings.Settings) { s.Docker.Host = "::nonsense::" },
	}
	for want, change := range tests {
		t.Run(want, func(t *testing.T) {
			s := runSettings("unix:///var/run/docker.sock")
			change(s)
			_, err := containers.ConfigFromSettings(s)
			require.ErrorContains(t, err, want)
		})
	}
}

// TestModuleWithoutDaemon starts the module against a socket that does not
// exist: the start succeeds and the optional check reports docker down.
func TestModuleWithoutDaemon(t *testing.T) {
	s := runSettings("unix://" + filepath.Join(shortTempDir(t), "absent.sock"))
	var p struct {
		fx.In
		Engine containers.Engine
		Checks []readiness.Check `group:"readiness"`
	}
	app := fxtest.New(t, fx.Supply(s), containers.Module, fx.NopLogger, fx.Populate(&p))
	app.RequireStart()
	defer app.RequireStop()
	require.Len(t, p.Checks, 1)
	require.Equal(t, "docker", p.Checks[0].Name)
	require.True(t, p.Checks[0].Optional)
	err := p.Checks[0].Probe(context.Background())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
}
