package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/settings"
)

// Path is where the metrics listener serves the metrics; any other path is
// a 404.
const Path = "/metrics"

// scrapeTimeout bounds one scrape, the queue probe's read included.
const scrapeTimeout = 10 * time.Second

// Params are New's dependencies.
type Params struct {
	fx.In
	Settings   *settings.Settings
	Log        *zap.Logger
	Shutdowner fx.Shutdowner `optional:"true"`
}

// Metrics owns the registry, the collectors the hooks feed, and the
// listener. With no address it is disabled: its hooks are nil and Start
// binds nothing.
type Metrics struct {
	addr       string
	log        *zap.Logger
	shutdowner fx.Shutdowner
	reg        *prometheus.Registry

	http       *httpMetrics
	store      *storeMetrics
	runs       *runMetrics
	containers *containerMetrics

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New builds the registry and its collectors when metrics are on. It does
// no I/O.
func New(p Params) (*Metrics, error) {
	m := &Metrics{addr: p.Settings.Metrics.Addr, log: p.Log.Named("metrics"), shutdowner: p.Shutdowner}
	if m.addr == "" {
		return m, nil
	}
	m.reg = prometheus.NewRegistry()
	m.http = newHTTPMetrics()
	m.store = newStoreMetrics()
	m.runs = newRunMetrics()
	m.containers = newContainerMetrics()
	all := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	all = append(all, m.http.collectors()...)
	all = append(all, m.store.collectors()...)
	all = append(all, m.runs.collectors()...)
	all = append(all, m.containers.collectors()...)
	if err := m.Register(all...); err != nil {
		return nil, err
	}
	return m, nil
}

// Enabled reports whether metrics are on (SLIPWAY_METRICS_ADDR is set).
func (m *Metrics) Enabled() bool { return m.reg != nil }

// Register adds collectors to the registry; with metrics off it does
// nothing.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	if !m.Enabled() {
		return nil
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// Gatherer returns the registry, for tests; nil when metrics are off.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	if !m.Enabled() {
		return nil
	}
	return m.reg
}

// Addr returns the listener's bound address once started, nil otherwise.
func (m *Metrics) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln == nil {
		return nil
	}
	return m.ln.Addr()
}

// Start binds the metrics listener (so "address in use" fails the start)
// and serves in the background. With metrics off it does nothing.
func (m *Metrics) Start(context.Context) error {
	if !m.Enabled() {
		return nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("listen on %s (SLIPWAY_METRICS_ADDR): %w", m.addr, err)
	}
	errLog := zap.NewStdLog(m.log)
	handler := promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: errLog,
		// A collector that fails (the queue probe during a database
		// outage) drops its own series, not the whole scrape.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             scrapeTimeout,
	}))
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      scrapeTimeout + 5*time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errLog,
	}
	m.mu.Lock()
	m.srv, m.ln, m.done = srv, ln, make(chan struct{})
	done := m.done
	m.mu.Unlock()
	m.log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics listener stopped", zap.Error(err))
			if m.shutdowner != nil {
				_ = m.shutdowner.Shutdown(fx.ExitCode(1))
			}
		}
	}()
	return nil
}

// Stop closes the listener, letting a scrape in progress finish within
// ctx. It is idempotent and tolerates a start that never happened.
func (m *Metrics) Stop(ctx context.Context) error {
	m.mu.Lock()
	srv, done := m.srv, m.done
	m.srv = nil
	m.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
