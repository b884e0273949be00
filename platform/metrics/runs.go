package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Runs is what the runs module reports. Statuses are the runs module's own
// (succeeded, failed, canceled, timed_out, interrupted).
type Runs interface {
	// RunClaimed: this process claimed a run that had waited in the queue
	// since it was created.
	RunClaimed(waited time.Duration)
	// RunFinished: this process recorded a run's final status. worked is
	// how long this process worked the run since claiming it, zero when it
	// did not work it (canceled while queued, or interrupted after the
	// instance working it died).
	RunFinished(status string, worked time.Duration)
}

// QueueProbe reads the run queue when metrics are scraped: how many runs
// wait, and since when the oldest of them waits (zero when none does). The
// runs module provides it.
type QueueProbe func(ctx context.Context) (waiting int, oldest time.Time, err error)

// probeTimeout bounds the queue probe's read during a scrape.
const probeTimeout = 3 * time.Second

// runMetrics counts runs by final status and times their waits and work.
type runMetrics struct {
	finished *prometheus.CounterVec
	worked   *prometheus.HistogramVec
	wait     prometheus.Histogram
}

var _ Runs = (*runMetrics)(nil)

func newRunMetrics() *runMetrics {
	return &runMetrics{
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_runs_finished_total",
			Help: "Runs whose final status this process recorded, by status.",
		}, []string{"status"}),
		worked: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_run_duration_seconds",
			Help:    "Time from a run's claim by this process to its final status, by status.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"status"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slipway_run_queue_wait_seconds",
			Help:    "Time runs waited from being queued to being claimed by this process.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}),
	}
}

func (r *runMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.finished, r.worked, r.wait}
}

// RunClaimed implements Runs.
func (r *runMetrics) RunClaimed(waited time.Duration) { r.wait.Observe(max(waited, 0).Seconds()) }

// RunFinished implements Runs.
func (r *runMetrics) RunFinished(status string, worked time.Duration) {
	r.finished.WithLabelValues(status).Inc()
	if worked > 0 {
		r.worked.WithLabelValues(status).Observe(worked.Seconds())
	}
}

// queueCollector reads the queue through its probe at each scrape: the
// records store is what says which runs wait, whichever queue carries them,
// and a read per scrape costs less than keeping a count right across
// processes.
type queueCollector struct {
	probe          QueueProbe
	log            *zap.Logger
	waiting, since *prometheus.Desc
}

func newQueueCollector(probe QueueProbe, log *zap.Logger) *queueCollector {
	return &queueCollector{
		probe: probe,
		log:   log,
		waiting: prometheus.NewDesc("slipway_runs_queued",
			"Runs waiting in the queue (the records store's count, the same on every instance).", nil, nil),
		since: prometheus.NewDesc("slipway_runs_queued_oldest_age_seconds",
			"How long the oldest queued run has waited; 0 when none waits.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.waiting
	ch <- q.since
}

// Collect implements prometheus.Collector. A failed read leaves both
// series out of this scrape (absent, not a wrong zero) and is logged.
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	n, oldest, err := q.probe(ctx)
	if err != nil {
		q.log.Warn("reading the run queue for metrics failed", zap.Error(err))
		return
	}
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(q.waiting, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(q.since, prometheus.GaugeValue, age)
}
