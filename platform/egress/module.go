package egress

import (
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Module provides the Gateway built from settings. When runs.network is
// allowlist on an instance that executes runs, it checks the proxy binary
// and makes the proxy image at start, and removes what is left of its
// paths at stop; otherwise it only serves Prune.
var Module = fx.Module("egress",
	fx.Provide(NewFromSettings),
)

// ConfigFromSettings maps the settings onto a Gateway Config; a bad
// allowlist entry is named.
func ConfigFromSettings(s *settings.Settings) (Config, error) {
	e := s.Runs.Egress
	allow, err := ParseAllowlist(e.Allow)
	if err != nil {
		return Config{}, fmt.Errorf("setting runs.egress.allow (SLIPWAY_RUN_EGRESS_ALLOW): %w", err)
	}
	return Config{
		Policy: Policy{
			Allow:          allow,
			AllowPrivate:   s.Runs.AllowPrivateHosts,
			MaxOpen:        e.MaxOpenConnections,
			MaxConnections: e.MaxConnections,
			IdleTimeout:    e.IdleTimeout,
			ConnectTimeout: e.ConnectTimeout,
			MaxBytes:       e.MaxBytes,
		},
		OutsideNetwork: e.Network,
		ProxyBinary:    e.ProxyBinary,
	}, nil
}

// NewFromSettings builds the Gateway on the container runtime.
func NewFromSettings(lc fx.Lifecycle, s *settings.Settings, rt *containers.Runtime, log *zap.Logger) (*Gateway, error) {
	cfg, err := ConfigFromSettings(s)
	if err != nil {
		return nil, err
	}
	g := NewGateway(rt, cfg, log.Named("egress"))
	if s.Runs.Network == settings.NetworkAllowlist && s.Runs.Execute {
		lc.Append(fx.StartStopHook(g.Start, g.Stop))
	}
	return g, nil
}
