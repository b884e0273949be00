package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UnmatchedRoute is the route label of requests that matched no route (an
// unknown path, or a known path with another method): one series for all
// of them, whatever paths clients make up.
const UnmatchedRoute = "unmatched"

// Requests is told about every answered request of the public listener
// (httpserver calls it). route is the template matched
// ("/v1/projects/:project_id"), "" when none was.
type Requests interface {
	ObserveRequest(method, route string, status int, took time.Duration)
}

// httpMetrics counts requests by route template, method and status, and
// times them by route template and method.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series caches each label set's counter and histogram (requestKey →
	// *requestSeries): a lock-free read on the request path instead of the
	// vectors' hashing and locking. Keys are normalised first, so it holds
	// no more entries than there are series.
	series sync.Map
}

// requestKey is a normalised label set; status 0 stands for "other".
type requestKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count prometheus.Counter
	took  prometheus.Observer
}

var _ Requests = (*httpMetrics)(nil)

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer (to the first byte of a stream), by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
}

func (h *httpMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.requests, h.duration}
}

// ObserveRequest implements Requests.
func (h *httpMetrics) ObserveRequest(method, route string, status int, took time.Duration) {
	if route == "" {
		route = UnmatchedRoute
	}
	if status < 100 || status > 599 {
		status = 0
	}
	k := requestKey{route: route, method: methodLabel(method), status: status}
	s, ok := h.series.Load(k)
	if !ok {
		s, _ = h.series.LoadOrStore(k, &requestSeries{
			count: h.requests.WithLabelValues(k.route, k.method, statusLabel(k.status)),
			took:  h.duration.WithLabelValues(k.route, k.method),
		})
	}
	rs := s.(*requestSeries)
	rs.count.Inc()
	rs.took.Observe(took.Seconds())
}

// methodLabel keeps the standard methods and folds anything else into one
// label (the server refuses other methods before any route, but the label
// set must not depend on that).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusLabel is the status code, or "other" outside 100–599.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}
