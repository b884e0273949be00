package metrics

import (
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Module provides *Metrics and, when metrics are on, the hooks other
// packages take as optional dependencies (nil when off); it registers the
// database pool's statistics and the run queue's probe when those exist,
// and ties the listener to the app's lifecycle.
var Module = fx.Module("metrics",
	fx.Provide(
		New,
		func(m *Metrics) Requests {
			if !m.Enabled() {
				return nil
			}
			return m.http
		},
		func(m *Metrics) Runs {
			if !m.Enabled() {
				return nil
			}
			return m.runs
		},
		func(m *Metrics) storage.Observer {
			if !m.Enabled() {
				return nil
			}
			return m.store
		},
		func(m *Metrics) containers.Observer {
			if !m.Enabled() {
				return nil
			}
			return m.containers
		},
	),
	fx.Invoke(register),
)

type registerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Metrics   *Metrics
	Records   *storage.Records `optional:"true"`
	Queue     QueueProbe       `optional:"true"`
}

// register adds the collectors of what the app has, and the listener's
// start and stop.
func register(p registerParams) error {
	m := p.Metrics
	if !m.Enabled() {
		return nil
	}
	if p.Records != nil && p.Records.DB != nil {
		// go_sql_*: open, in use and idle connections, waits for one and
		// their total time, connections closed by the pool's limits.
		if err := m.Register(collectors.NewDBStatsCollector(p.Records.DB.DB, "records")); err != nil {
			return err
		}
	}
	if p.Queue != nil {
		if err := m.Register(newQueueCollector(p.Queue, m.log)); err != nil {
			return err
		}
	}
	p.Lifecycle.Append(fx.StartStopHook(m.Start, m.Stop))
	return nil
}
