package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayhq/slipway/platform/containers"
)

// containerMetrics counts container starts, failed starts and clean-ups.
type containerMetrics struct {
	starts   prometheus.Counter
	failures *prometheus.CounterVec
	removed  prometheus.Counter
}

var _ containers.Observer = (*containerMetrics)(nil)

func newContainerMetrics() *containerMetrics {
	c := &containerMetrics{
		starts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_container_starts_total",
			Help: "Agent containers created and started.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_container_start_failures_total",
			Help: "Agent containers that failed to start, by reason.",
		}, []string{"reason"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_container_cleanup_removals_total",
			Help: "Managed containers removed by clean-ups: of dead instances, at stop, and by operators.",
		}),
	}
	// Every reason is a series from the start, so a rate over it is never
	// missing until the first failure.
	for _, r := range []string{containers.FailImageNotFound, containers.FailInvalidSpec, containers.FailUnavailable,
		containers.FailCanceled, containers.FailOther} {
		c.failures.WithLabelValues(r)
	}
	return c
}

func (c *containerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.starts, c.failures, c.removed}
}

// ContainerStarted implements containers.Observer.
func (c *containerMetrics) ContainerStarted() { c.starts.Inc() }

// ContainerStartFailed implements containers.Observer.
func (c *containerMetrics) ContainerStartFailed(reason string) {
	c.failures.WithLabelValues(reason).Inc()
}

// ContainersReaped implements containers.Observer.
func (c *containerMetrics) ContainersReaped(n int) { c.removed.Add(float64(n)) }
