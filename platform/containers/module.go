package containers

import (
	"errors"
	"fmt"
	"math"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Module provides the Runtime built from settings, as itself (for the
// networks and sidecars of platform/egress) and as the Engine, its "docker"
// readiness check and its Close at stop. Building it does no I/O, so a
// server on a machine without Docker starts; the check then reports the
// daemon missing.
var Module = fx.Module("containers",
	fx.Provide(
		NewFromSettings,
		NewEngine,
		readiness.AsCheck(NewCheck),
	),
)

// ConfigFromSettings maps the settings onto a runtime Config.
func ConfigFromSettings(s *settings.Settings) (Config, error) {
	if !s.Runs.ReadOnlyRootfs {
		// The runtime always mounts the image read-only (with a writable
		// /workspace and /tmp); honouring false would mean a weaker sandbox
		// than the operator can see in the code.
		return Config{}, errors.New("setting runs.read_only_rootfs: false is not supported; agent containers always have a read-only root filesystem (with writable /workspace and /tmp)")
	}
	nano := s.Runs.CPUs * 1e9
	if nano < 0 || nano > math.MaxInt64 {
		return Config{}, fmt.Errorf("setting runs.cpus: %v is out of range", s.Runs.CPUs)
	}
	cfg := Config{
		Host:        s.Docker.Host,
		User:        s.Runs.User,
		MemoryBytes: s.Runs.MemoryBytes,
		NanoCPUs:    int64(nano),
		PidsLimit:   s.Runs.PidsLimit,
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("setting SLIPWAY_DOCKER_HOST or runs limits: %w", err)
	}
	return cfg, nil
}

// NewFromSettings builds the Runtime from settings; it is closed when the
// app stops.
func NewFromSettings(lc fx.Lifecycle, s *settings.Settings) (*Runtime, error) {
	cfg, err := ConfigFromSettings(s)
	if err != nil {
		return nil, err
	}
	rt, err := New(cfg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(rt.Close))
	return rt, nil
}

// EngineParams are NewEngine's dependencies.
type EngineParams struct {
	fx.In
	Runtime *Runtime
	// Observer, when metrics are on, is told about starts and clean-ups.
	Observer Observer `optional:"true"`
}

// NewEngine provides the Runtime as the Engine the runs module works
// with, reporting to the Observer when metrics are on. The egress
// module's own sidecars go through the Runtime and are not counted as
// agent containers.
func NewEngine(p EngineParams) Engine { return Observed(p.Runtime, p.Observer) }

// NewCheck is the "docker" readiness check. It is optional: an instance
// without Docker still serves everything but runs (whose creation answers
// 503), so a laptop that only browses the API, or an API-only node, stays
// ready; /readyz still shows the failure.
func NewCheck(e Engine) readiness.Check {
	return readiness.Check{Name: "docker", Probe: e.Ping, Optional: true}
}
