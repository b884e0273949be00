package runs

import (
	"context"
	"errors"
	"io"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/settings"
)

// openEgress gives the run its own way out when runs.network is allowlist:
// a network where the only peer is a proxy admitting runs.egress.allow.
func (x *execution) openEgress(ctx context.Context) error {
	if x.w.cfg.Network != settings.NetworkAllowlist {
		return nil
	}
	p, err := x.w.egress.Open(ctx, x.run.ID, x.w.self.ID)
	switch {
	case ctx.Err() != nil && err != nil:
		return ctx.Err()
	case err != nil:
		x.log.Error("opening the egress proxy failed", zap.Error(err))
		if errors.Is(err, derrors.ErrUnavailable) {
			return fail("docker is unavailable: the egress proxy could not start")
		}
		return fail("the egress proxy could not start")
	}
	x.egress = p
	return nil
}

// withEgress puts the agent's container on the run's network and points
// it at the proxy; the proxy's variables win over allow-listed ones.
func (x *execution) withEgress(spec containers.Spec) containers.Spec {
	if x.egress == nil {
		return spec
	}
	spec.NetworkMode = x.egress.Network
	spec.Env = maps.Clone(spec.Env)
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	maps.Copy(spec.Env, x.egress.Env)
	return spec
}

// logEgress copies the proxy's decisions, a line each, into the run's log
// and the server's until the proxy stops, with the project's secrets
// masked in both: an agent chooses the host names it asks for.
func (x *execution) logEgress(log io.Writer) {
	if x.egress == nil {
		return
	}
	x.egressLogged = make(chan struct{})
	go func() {
		defer close(x.egressLogged)
		for d := range x.egress.Decisions() {
			// The fields an agent chooses; the line is made of them.
			d.Host, d.Reason = x.maskString(d.Host), x.maskString(d.Reason)
			if line := d.LogLine(); line != "" {
				_, _ = log.Write([]byte(line + "\n"))
			}
			if d.Event != egress.EventConnection {
				continue
			}
			x.log.Info("egress connection", zap.String("outcome", d.Outcome), zap.String("host", d.Host),
				zap.Uint16("port", d.Port), zap.String("reason", d.Reason), zap.String("addr", d.Addr),
				zap.Int64("bytes_out", d.Out), zap.Int64("bytes_in", d.In),
				zap.Duration("duration", time.Duration(d.Millis)*time.Millisecond))
		}
	}()
}

// maskString is s with the project's secrets masked.
func (x *execution) maskString(s string) string { return x.masker.String(s) }

// stopEgress stops the proxy once the agent's container has stopped, and
// waits until its last decisions (of the connections it closes as it
// stops) are in the run's log.
func (x *execution) stopEgress(bg context.Context) {
	if x.egress == nil {
		return
	}
	ctx, cancel := context.WithTimeout(bg, dockerCallTimeout)
	defer cancel()
	if err := x.egress.Stop(ctx); err != nil && !errors.Is(err, derrors.ErrNotFound) {
		x.log.Warn("stopping the egress proxy failed", zap.Error(err))
	}
	if x.egressLogged != nil {
		<-x.egressLogged
	}
}

// closeEgress removes the proxy and the run's network; the agent's
// container must be gone first.
func (x *execution) closeEgress(bg context.Context) {
	if x.egress == nil {
		return
	}
	ctx, cancel := context.WithTimeout(bg, dockerCallTimeout)
	defer cancel()
	if err := x.egress.Close(ctx); err != nil {
		x.log.Error("removing the egress proxy and network failed", zap.Error(err))
	}
}
