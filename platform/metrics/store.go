package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayhq/slipway/platform/storage"
)

// storeMetrics times the calls to the records backend.
type storeMetrics struct {
	calls *prometheus.HistogramVec
	// series caches each (backend, op)'s histogram, as httpMetrics does:
	// the JSON store's reads are a few hundred nanoseconds, so the vector's
	// own lookup would be a visible share of them.
	series sync.Map // storeKey → prometheus.Observer
}

type storeKey struct{ backend, op string }

var _ storage.Observer = (*storeMetrics)(nil)

func newStoreMetrics() *storeMetrics {
	return &storeMetrics{calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "slipway_store_call_duration_seconds",
		Help:    "Latency of calls to the records backend: JSON store views and updates, PostgreSQL queries by operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"backend", "op"})}
}

func (s *storeMetrics) collectors() []prometheus.Collector { return []prometheus.Collector{s.calls} }

// ObserveStoreCall implements storage.Observer.
func (s *storeMetrics) ObserveStoreCall(backend, op string, took time.Duration) {
	k := storeKey{backend, op}
	o, ok := s.series.Load(k)
	if !ok {
		o, _ = s.series.LoadOrStore(k, s.calls.WithLabelValues(backend, op))
	}
	o.(prometheus.Observer).Observe(took.Seconds())
}
