package metrics_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/testenv"
)

const (
	requests = "slipway_http_requests_total"
	duration = "slipway_http_request_duration_seconds"
)

// TestNeverOnThePublicPort: /metrics is served by the metrics listener
// only; on the API's port it is an unknown route, with metrics on or off.
func TestNeverOnThePublicPort(t *testing.T) {
	off := apptest.Start(t)
	require.Empty(t, off.MetricsURL, "off by default: no listener")
	on := apptest.Start(t, apptest.WithMetrics())
	require.NotEmpty(t, on.MetricsURL)
	require.NotEqual(t, on.URL, on.MetricsURL)
	for _, a := range []*apptest.App{off, on} {
		for _, path := range []string{"/metrics", "/v1/metrics", "/metrics/"} {
			res := a.Get(path, "")
			require.Equal(t, http.StatusNotFound, res.Status, "%s: %s", path, res.Body)
			require.Equal(t, "not_found", res.ErrorCode(t), path)
		}
	}
	// The metrics listener serves /metrics and nothing else.
	for _, path := range []string{"/", "/v1/projects", "/metrics/x", "/healthz"} {
		res, err := on.Client.Get(on.MetricsURL + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusNotFound, res.StatusCode, path)
	}
	res, err := on.Client.Post(on.MetricsURL+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

func TestScrapeCoversRequestsStoreQueueAndRuntime(t *testing.T) {
	a := apptest.Start(t, apptest.WithMetrics())
	u := a.SignUp()
	id := a.CreateProject(u.Token)
	for range 3 {
		require.Equal(t, http.StatusOK, a.Get("/v1/projects/"+id, u.Token).Status)
	}
	require.Equal(t, http.StatusUnauthorized, a.Get("/v1/projects/"+id, "").Status)

	f := a.Scrape()
	route := "/v1/projects/:project_id"
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": route, "method": "GET", "status": "200"}, 3},
		{map[string]string{"route": route, "method": "GET", "status": "401"}, 1},
		{map[string]string{"route": "/v1/projects", "method": "POST", "status": "201"}, 1},
		{map[string]string{"route": "/v1/auth/signup", "method": "POST", "status": "201"}, 1},
	} {
		got, ok := f.Value(requests, c.labels)
		require.True(t, ok, "%v", c.labels)
		require.Equal(t, c.want, got, "%v", c.labels)
	}
	got, ok := f.Value(duration, map[string]string{"route": route, "method": "GET"})
	require.True(t, ok)
	require.Equal(t, 4.0, got, "every request is timed")

	views, ok := f.Value("slipway_store_call_duration_seconds", map[string]string{"backend": "json", "op": "view"})
	require.True(t, ok)
	require.GreaterOrEqual(t, views, 3.0, "the project reads")
	updates, ok := f.Value("slipway_store_call_duration_seconds", map[string]string{"backend": "json", "op": "update"})
	require.True(t, ok)
	require.GreaterOrEqual(t, updates, 2.0, "the sign-up and the project")

	queued, ok := f.Value("slipway_runs_queued", nil)
	require.True(t, ok, "the queue is read at each scrape")
	require.Zero(t, queued)
	_, ok = f.Value("slipway_runs_queued_oldest_age_seconds", nil)
	require.True(t, ok)
	failures, ok := f.Value("slipway_container_start_failures_total", map[string]string{"reason": containers.FailImageNotFound})
	require.True(t, ok, "every failure reason is a series from the start")
	require.Zero(t, failures)

	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes", "promhttp_metric_handler_requests_total"} {
		require.Contains(t, f, name)
	}
	require.NotContains(t, f, "go_sql_open_connections", "no database pool on the JSON store")
}

// TestHTTPSeriesStayBounded sends many distinct ids and made-up paths: the
// series count must not grow with them, route labels are route templates
// (or the one label of unmatched requests), never raw paths.
func TestHTTPSeriesStayBounded(t *testing.T) {
	a := apptest.Start(t, apptest.WithMetrics())
	u := a.SignUp()
	var sent []string
	burst := func(n int) {
		for range n {
			junk := strings.ToLower(ids.New("zzz"))
			sent = append(sent, junk)
			for _, req := range []apptest.Request{
				{Method: http.MethodGet, Path: "/v1/projects/prj_" + junk, Token: u.Token},       // a route, an unknown id: 404
				{Method: http.MethodGet, Path: "/v1/runs/run_" + junk + "/logs", Token: u.Token}, // another route
				{Method: http.MethodGet, Path: "/" + junk},                                       // no route: 404
				{Method: http.MethodGet, Path: "/v1/" + junk + "/x/" + junk},                     // no route: 404
				{Method: http.MethodPut, Path: "/v1/projects/" + junk, Token: u.Token},           // a path, not its method: 405
				{Method: http.MethodGet, Path: "/v1/projects?limit=" + junk, Token: u.Token},     // a query: 422
			} {
				a.Do(req)
			}
		}
	}
	burst(3)
	before := a.Scrape()
	burst(150)
	after := a.Scrape()

	for _, name := range []string{requests, duration} {
		require.Equal(t, before.Series(name), after.Series(name), "%s grew with distinct ids and paths", name)
	}
	routes := []string{metrics.UnmatchedRoute}
	for _, op := range a.Server.Operations() {
		routes = append(routes, op.FullPath())
	}
	for _, name := range []string{requests, duration} {
		for _, r := range after.LabelValues(name, "route") {
			require.Contains(t, routes, r, "%s: route label %q is not a route template", name, r)
		}
	}
	text := a.ScrapeText()
	for _, junk := range sent {
		require.NotContains(t, text, junk, "a request's path reached a label")
	}
	unmatched, ok := after.Value(requests, map[string]string{"route": metrics.UnmatchedRoute, "method": "GET", "status": "404"})
	require.True(t, ok)
	require.Equal(t, float64(2*153), unmatched, "every unknown path counts under one label")
	wrongMethod, ok := after.Value(requests, map[string]string{"route": metrics.UnmatchedRoute, "method": "PUT", "status": "405"})
	require.True(t, ok)
	require.Equal(t, 153.0, wrongMethod)
	byID, ok := after.Value(requests, map[string]string{"route": "/v1/projects/:project_id", "method": "GET", "status": "404"})
	require.True(t, ok)
	require.Equal(t, 153.0, byID)
}

// TestPromtoolChecksTheOutput lints a scrape of each records backend with
// promtool (Debian's prometheus package): names, help, types, units.
func TestPromtoolChecksTheOutput(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Unavailable(t, "promtool (apt-get install prometheus): %v", err)
	}
	for name, opts := range map[string][]apptest.Option{
		"json":     {apptest.WithMetrics()},
		"postgres": {apptest.WithMetrics(), apptest.Postgres(t)},
	} {
		t.Run(name, func(t *testing.T) {
			a := apptest.Start(t, opts...)
			u := a.SignUp()
			a.Get("/v1/projects/"+a.CreateProject(u.Token), u.Token)
			a.Get("/nowhere", "")
			text := a.ScrapeText()
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(text)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "promtool check metrics:\n%s", out)
			require.Empty(t, strings.TrimSpace(string(out)), "promtool has no complaint")
		})
	}
}

func TestPostgresPoolAndQueries(t *testing.T) {
	a := apptest.Start(t, apptest.WithMetrics(), apptest.Postgres(t))
	u := a.SignUp()
	a.Get("/v1/projects/"+a.CreateProject(u.Token), u.Token)
	f := a.Scrape()
	db := map[string]string{"db_name": "records"}
	for _, name := range []string{"go_sql_open_connections", "go_sql_in_use_connections", "go_sql_idle_connections",
		"go_sql_wait_count_total", "go_sql_wait_duration_seconds_total", "go_sql_max_open_connections"} {
		_, ok := f.Value(name, db)
		require.True(t, ok, name)
	}
	maxOpen, _ := f.Value("go_sql_max_open_connections", db)
	require.Equal(t, float64(a.Settings.Storage.Pool.MaxOpenConns), maxOpen)
	open, _ := f.Value("go_sql_open_connections", db)
	require.Positive(t, open)
	for _, op := range []string{"select", "insert"} {
		n, ok := f.Value("slipway_store_call_duration_seconds", map[string]string{"backend": "postgres", "op": op})
		require.True(t, ok, op)
		require.Positive(t, n, op)
	}
}

// TestOffProvidesNoHooks: without an address, every hook is nil (the
// packages then skip measuring) and nothing listens.
func TestOffProvidesNoHooks(t *testing.T) {
	s := &settings.Settings{}
	var p struct {
		fx.In
		Metrics    *metrics.Metrics
		Requests   metrics.Requests    `optional:"true"`
		Runs       metrics.Runs        `optional:"true"`
		Store      storage.Observer    `optional:"true"`
		Containers containers.Observer `optional:"true"`
	}
	app := fxtest.New(t, fx.Supply(s, zap.NewNop()), metrics.Module, fx.NopLogger, fx.Populate(&p))
	app.RequireStart()
	defer app.RequireStop()
	require.False(t, p.Metrics.Enabled())
	require.Nil(t, p.Metrics.Gatherer())
	require.Nil(t, p.Metrics.Addr())
	require.Nil(t, p.Requests)
	require.Nil(t, p.Runs)
	require.Nil(t, p.Store)
	require.Nil(t, p.Containers)
}

func TestListenerLifecycle(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	busy, err := metrics.New(metrics.Params{Settings: &settings.Settings{Metrics: settings.Metrics{Addr: taken.Addr().String()}}, Log: zap.NewNop()})
	require.NoError(t, err)
	err = busy.Start(context.Background())
	require.ErrorContains(t, err, fmt.Sprintf("listen on %s (SLIPWAY_METRICS_ADDR): ", taken.Addr()))
	require.NoError(t, busy.Stop(context.Background()), "a stop after a failed start")

	m, err := metrics.New(metrics.Params{Settings: &settings.Settings{Metrics: settings.Metrics{Addr: "127.0.0.1:0"}}, Log: zap.NewNop()})
	require.NoError(t, err)
	require.NoError(t, m.Stop(context.Background()), "a stop before the start")
	require.NoError(t, m.Start(context.Background()))
	addr := m.Addr().String()
	res, err := http.Get("http://" + addr + metrics.Path)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, m.Stop(ctx))
	require.NoError(t, m.Stop(ctx), "idempotent")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener is closed")
	fams, err := m.Gatherer().Gather()
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(fams, func(f *dto.MetricFamily) bool { return f.GetName() == "go_goroutines" }))
}
