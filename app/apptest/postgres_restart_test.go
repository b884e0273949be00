package apptest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestPostgresRestart restarts the shared PostgreSQL cluster under load, so
// it runs only when asked: SLIPWAY_PG_RESTART_TEST=1 (as root, on a machine
// with pg_ctlcluster). Four clients read and create projects without pause
// while the cluster restarts; every failure must be a 503
// service_unavailable, and the app must recover without being restarted.
// It logs how many requests failed, with which status, for how long.
//
//	SLIPWAY_PG_RESTART_TEST=1 go test -run TestPostgresRestart -v ./app/apptest/
func TestPostgresRestart(t *testing.T) {
	if os.Getenv("SLIPWAY_PG_RESTART_TEST") != "1" {
		t.Skip("restarts the shared PostgreSQL cluster: set SLIPWAY_PG_RESTART_TEST=1 to run")
	}
	version := clusterVersion(t)
	a := apptest.Start(t, apptest.Postgres(t))
	u := a.SignUp()
	id := a.Post("/v1/projects", u.Token, map[string]any{"name": "watched"}).JSON(t)["id"].(string)
	t.Cleanup(func() { ensureClusterUp(t, version) })

	client := &http.Client{Timeout: 15 * time.Second}
	var results []result
	var mu sync.Mutex
	var stop atomic.Bool
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				var r result
				if worker%2 == 0 {
					r = call(client, http.MethodGet, a.URL+"/v1/projects/"+id, u.Token, "")
				} else {
					r = call(client, http.MethodPost, a.URL+"/v1/projects", u.Token, fmt.Sprintf(`{"name":"w%d-%d"}`, worker, i))
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}

	require.Eventually(t, func() bool { // steady state before the restart
		mu.Lock()
		defer mu.Unlock()
		return len(results) >= 200
	}, 30*time.Second, 10*time.Millisecond)
	restartStart := time.Now()
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart").CombinedOutput()
	require.NoError(t, err, "restart: %s", out)
	restartEnd := time.Now()

	// Keep the load on until 200 requests in a row after the restart succeeded.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		streak := 0
		for i := len(results) - 1; i >= 0 && results[i].start.After(restartEnd); i-- {
			if !results[i].ok() {
				return false
			}
			streak++
		}
		return streak >= 200
	}, 60*time.Second, 50*time.Millisecond, "the app does not recover from the restart by itself")
	stop.Store(true)
	wg.Wait()

	sort.Slice(results, func(i, j int) bool { return results[i].start.Before(results[j].start) })
	byStatus := map[string]int{}
	var failed []result
	for _, r := range results {
		byStatus[r.label()]++
		if !r.ok() {
			failed = append(failed, r)
		}
	}
	report := []string{
		fmt.Sprintf("cluster %s restart took %v", version, restartEnd.Sub(restartStart).Round(time.Millisecond)),
		fmt.Sprintf("requests: %d in %v, by outcome: %v", len(results),
			results[len(results)-1].start.Sub(results[0].start).Round(time.Millisecond), byStatus),
	}
	if len(failed) > 0 {
		first, last := failed[0], failed[len(failed)-1]
		report = append(report,
			fmt.Sprintf("failed: %d, from %v to %v after the restart began (a window of %v)", len(failed),
				first.start.Sub(restartStart).Round(time.Millisecond), last.end.Sub(restartStart).Round(time.Millisecond),
				last.end.Sub(first.start).Round(time.Millisecond)))
		for _, r := range failed {
			if r.err != "" || r.status != http.StatusServiceUnavailable {
				report = append(report, fmt.Sprintf("  unexpected: %s %s", r.label(), r.err))
			}
		}
	}
	if len(failed) > 0 {
		last := failed[len(failed)-1]
		for _, r := range results {
			if r.start.After(last.start) && r.ok() {
				report = append(report, fmt.Sprintf("recovered: first success after the last failure ended %v after the restart began",
					r.end.Sub(restartStart).Round(time.Millisecond)))
				break
			}
		}
	}
	report = append(report, timeline(results, restartStart, restartEnd)...)
	t.Log("\n" + strings.Join(report, "\n"))

	for _, r := range failed {
		require.Empty(t, r.err, "a transport error, not an answer")
		require.Equal(t, http.StatusServiceUnavailable, r.status, "failures during a restart are 503s: %s", r.body)
		require.Equal(t, "service_unavailable", r.code, r.body)
		require.True(t, r.retryable, r.body)
	}
	require.Equal(t, http.StatusOK, a.Get("/readyz", "").Status)
}

// timeline counts outcomes in 100 ms slices, by start time, from the
// restart to its end, with the slowest request of each slice.
func timeline(results []result, from, to time.Time) []string {
	const slice = 100 * time.Millisecond
	type bucket struct {
		ok, failed int
		slowest    time.Duration
	}
	buckets := make([]bucket, int(to.Sub(from)/slice)+1)
	for _, r := range results {
		if r.start.Before(from) || !r.start.Before(to) {
			continue
		}
		b := &buckets[int(r.start.Sub(from)/slice)]
		if r.ok() {
			b.ok++
		} else {
			b.failed++
		}
		b.slowest = max(b.slowest, r.end.Sub(r.start))
	}
	out := []string{"timeline (requests by start time since the restart began):"}
	for i, b := range buckets {
		out = append(out, fmt.Sprintf("  +%4dms  ok %4d  failed %4d  slowest %v", i*100, b.ok, b.failed, b.slowest.Round(time.Millisecond)))
	}
	return out
}

type result struct {
	start, end time.Time
	status     int
	code       string
	retryable  bool
	body       string
	err        string
}

func (r result) ok() bool { return r.err == "" && r.status < 300 }

func (r result) label() string {
	if r.err != "" {
		return "transport error"
	}
	if r.code != "" {
		return fmt.Sprintf("%d %s", r.status, r.code)
	}
	return fmt.Sprint(r.status)
}

func call(client *http.Client, method, url, token, body string) result {
	r := result{start: time.Now()}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		r.err, r.end = err.Error(), time.Now()
		return r
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		r.err, r.end = err.Error(), time.Now()
		return r
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r.status, r.end = res.StatusCode, time.Now()
	if res.StatusCode >= 300 {
		r.body = string(raw)
		var env struct {
			Error struct {
				Code      string `json:"code"`
				Retryable bool   `json:"retryable"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		r.code, r.retryable = env.Error.Code, env.Error.Retryable
	}
	return r
}

// clusterVersion is the one PostgreSQL version under /etc/postgresql.
func clusterVersion(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/etc/postgresql")
	require.NoError(t, err, "pg_ctlcluster clusters live under /etc/postgresql")
	require.Len(t, entries, 1, "one cluster version expected")
	return entries[0].Name()
}

// ensureClusterUp starts the cluster again if the test left it down.
func ensureClusterUp(t *testing.T, version string) {
	if exec.Command("pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q").Run() == nil {
		return
	}
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start").CombinedOutput()
	if err != nil {
		t.Errorf("start the cluster again: %v: %s", err, out)
	}
}
