package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/queue/sqstest"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// Fleet shape and load (issue 11): two API-only instances, three workers
// of two slots each, 200 runs, and the heartbeat of the binary's defaults.
const (
	fleetAPIs      = 2
	fleetWorkers   = 3
	fleetSlots     = 2
	fleetRuns      = 200
	fleetLatency   = 20 // runs made one after another, on an idle fleet
	fleetHeartbeat = 10 * time.Second
)

// TestFleet runs the real binary as a fleet on one PostgreSQL database and
// one S3 bucket (gofakes3 on loopback), once per queue backend in
// $SLIPWAY_FLEET_QUEUES (default postgres,sqs; local is today's heartbeat
// pick-up, for comparison): 2 API-only instances and 3 `slipway worker`s of
// 2 slots each, a fast agent (echo) in the busybox test image.
//
// It first makes 20 runs one after another on the idle fleet and reports
// the queue wait (POST to claim, as the claiming worker logs it) and POST
// to container start; then creates 200 runs through both APIs at once,
// kills one worker with SIGKILL while it works runs, and requires: every
// run ends; no run had more than one container, and each succeeded run
// exactly one (Docker's container events, by label); no run was claimed
// twice; no worker ran more containers at once than its slots (the events
// again, and the run records); and each run the killed worker held was
// interrupted within three heartbeats. It reports runs per minute.
//
// `go tool task fleet` runs it (SLIPWAY_FLEET=1); it builds the binary
// unless SLIPWAY_FLEET_BIN names one.
func TestFleet(t *testing.T) {
	if os.Getenv("SLIPWAY_FLEET") == "" {
		t.Skip("fleet test: set SLIPWAY_FLEET=1 (go tool task fleet)")
	}
	bin := fleetBinary(t)
	queues := strings.Split(orDefault(os.Getenv("SLIPWAY_FLEET_QUEUES"), "postgres,sqs"), ",")
	for _, q := range queues {
		t.Run(q, func(t *testing.T) { runFleet(t, bin, strings.TrimSpace(q)) })
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// fleetBinary is $SLIPWAY_FLEET_BIN (absolute, or relative to this package), or the binary built here.
func fleetBinary(t *testing.T) string {
	if p := os.Getenv("SLIPWAY_FLEET_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		require.NoError(t, err)
		return abs
	}
	bin := filepath.Join(t.TempDir(), "slipway")
	out, err := exec.Command("go", "build", "-trimpath", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// fleetProc is one slipway process of the fleet; it keeps its log lines.
type fleetProc struct {
	name     string
	cmd      *exec.Cmd
	url      string // API instances
	instance string // workers: the instance id labelling their containers
	dataDir  string
	mu       sync.Mutex
	lines    []map[string]any
	exited   chan struct{}
}

func (p *fleetProc) entries(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, e := range p.lines {
		if e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// startFleetProc runs `bin args…` with env on dataDir (a new one when
// empty) and waits until it logs ready ("listening" for serve, "start-up
// clean-up done" for worker).
func startFleetProc(t *testing.T, bin, name, dataDir string, env []string, args ...string) *fleetProc {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	p := &fleetProc{name: name, cmd: exec.Command(bin, args...), exited: make(chan struct{}), dataDir: dataDir}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Env = append(p.cmd.Env, "SLIPWAY_DATA_DIR="+dataDir)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	ready := make(chan struct{})
	var once sync.Once
	var raw bytes.Buffer
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				p.mu.Lock()
				raw.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, e)
			switch e["msg"] {
			case "listening":
				p.url = "http://" + e["addr"].(string)
				once.Do(func() { close(ready) })
			case "start-up clean-up done":
				p.instance, _ = e["instance_id"].(string)
				once.Do(func() { close(ready) })
			}
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
	}()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("%s exited at start: %s", name, raw.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return p
}

// fleetRun is a run's record, read from the database.
type fleetRun struct {
	bun.BaseModel `bun:"table:runs"`
	ID            string     `bun:"id"`
	Status        string     `bun:"status"`
	InstanceID    string     `bun:"instance_id"`
	CreatedAt     time.Time  `bun:"created_at"`
	StartedAt     *time.Time `bun:"started_at"`
	FinishedAt    *time.Time `bun:"finished_at"`
	Error         string     `bun:"error"`
}

func runFleet(t *testing.T, bin, backend string) {
	rt, image := apptest.RunImage(t)
	dsn := pgtest.NewDB(t)
	db := pgtest.Open(t, dsn)
	_, s3cfg := apptest.S3(t) // also sets the AWS credentials the children inherit
	env := []string{"SLIPWAY_ENV=test", "SLIPWAY_LOG_FORMAT=json", "SLIPWAY_LOG_LEVEL=info",
		"SLIPWAY_STORAGE_BACKEND=postgres", "SLIPWAY_DATABASE_URL=" + dsn,
		"SLIPWAY_OBJECT_STORE=s3", "SLIPWAY_S3_BUCKET=" + s3cfg.Bucket, "SLIPWAY_S3_ENDPOINT=" + s3cfg.Endpoint,
		"SLIPWAY_S3_REGION=" + s3cfg.Region, "SLIPWAY_QUEUE=" + backend,
		"SLIPWAY_DOCKER_HOST=" + containertest.Host(), "SLIPWAY_RUN_IMAGE=" + image, "SLIPWAY_RUN_COMMAND=echo hi",
		fmt.Sprintf("SLIPWAY_RUN_MAX_CONCURRENT=%d", fleetSlots), "SLIPWAY_RUN_MAX_ACTIVE_PER_USER=10000",
		"SLIPWAY_HTTP_ADDR=127.0.0.1:0"}
	if backend == "sqs" {
		srv := sqstest.Start(t)
		url := srv.CreateQueue(t, "fleet-runs", nil)
		env = append(env, "SLIPWAY_SQS_QUEUE_URL="+url, "SLIPWAY_SQS_ENDPOINT="+srv.Endpoint)
	}

	// Every container event of this engine's managed containers, from now on.
	evctx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	msgs, errs := rt.Client().Events(evctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", containers.LabelManaged+"=true"))})
	var evMu sync.Mutex
	var evs []events.Message
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for {
			select {
			case m := <-msgs:
				evMu.Lock()
				evs = append(evs, m)
				evMu.Unlock()
			case <-errs:
				return
			}
		}
	}()

	var apis, workers []*fleetProc
	for i := range fleetAPIs {
		apis = append(apis, startFleetProc(t, bin, fmt.Sprintf("api%d", i), "", append(env, "SLIPWAY_RUN_EXECUTE=false"), "serve"))
	}
	for i := range fleetWorkers {
		workers = append(workers, startFleetProc(t, bin, fmt.Sprintf("worker%d", i), "", env, "worker"))
	}
	byInstance := map[string]*fleetProc{}
	for _, w := range workers {
		require.NotEmpty(t, w.instance)
		byInstance[w.instance] = w
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for id := range byInstance {
			_ = containertest.RemoveInstance(ctx, rt, id)
		}
	})

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	call := func(base, method, path, token string, body any) (int, map[string]any) {
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, map[string]any{"error": err.Error()}
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	status, body := call(apis[0].url, "POST", "/v1/auth/signup", "", map[string]any{"email": "fleet@example.com", "password": "correct horse battery"})
	require.Equal(t, 201, status, "%v", body)
	token := body["access_token"].(string)
	status, body = call(apis[0].url, "POST", "/v1/projects", token, map[string]any{"name": "fleet"})
	require.Equal(t, 201, status, "%v", body)
	status, body = call(apis[1].url, "POST", "/v1/projects/"+body["id"].(string)+"/repositories", token,
		map[string]any{"url": apptest.GitRepo(t, map[string]string{"README.md": "# fleet\n"})})
	require.Equal(t, 201, status, "%v", body)
	repoID := body["id"].(string)
	create := func(i int) (string, error) {
		status, body := call(apis[i%fleetAPIs].url, "POST", "/v1/repositories/"+repoID+"/runs", token, map[string]any{"prompt": fmt.Sprintf("run %d", i)})
		if status != http.StatusAccepted {
			return "", fmt.Errorf("create run %d: %d %v", i, status, body)
		}
		return body["id"].(string), nil
	}
	load := func(ids []string) map[string]fleetRun {
		var rows []fleetRun
		require.NoError(t, db.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(context.Background()))
		out := map[string]fleetRun{}
		for _, r := range rows {
			out[r.ID] = r
		}
		return out
	}
	waitAll := func(ids []string, within time.Duration) map[string]fleetRun {
		deadline := time.Now().Add(within)
		for {
			rows := load(ids)
			done := 0
			for _, r := range rows {
				if apptest.Terminal(r.Status) {
					done++
				}
			}
			if done == len(ids) {
				return rows
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d runs ended within %s", done, len(ids), within)
			}
			time.Sleep(100 * time.Millisecond) // polling the records; nothing waits on this
		}
	}
	// claims maps each run to the queue waits its claims logged, by worker.
	claims := func() map[string][]time.Duration {
		out := map[string][]time.Duration{}
		for _, w := range workers {
			for _, e := range w.entries("run claimed") {
				secs, _ := e["queue_wait"].(float64)
				out[e["run_id"].(string)] = append(out[e["run_id"].(string)], time.Duration(secs*float64(time.Second)))
			}
		}
		return out
	}

	// Phase 1: queue wait on an idle fleet, one run at a time.
	var latencyIDs []string
	for i := range fleetLatency {
		id, err := create(i)
		require.NoError(t, err)
		latencyIDs = append(latencyIDs, id)
		waitAll([]string{id}, 2*time.Minute)
	}
	idle := claims()
	var waits, starts []time.Duration
	for _, r := range load(latencyIDs) {
		require.Equal(t, "succeeded", r.Status, "%s: %s", r.ID, r.Error)
		require.Len(t, idle[r.ID], 1, "run %s claimed once", r.ID)
		waits = append(waits, idle[r.ID][0])
		starts = append(starts, r.StartedAt.Sub(r.CreatedAt))
	}
	t.Logf("%s queue, idle fleet, %d runs one after another: POST to claim p50 %s p99 %s; POST to container start p50 %s p99 %s",
		backend, fleetLatency, pct(waits, 50), pct(waits, 99), pct(starts, 50), pct(starts, 99))

	// Phase 2: 200 runs through both APIs at once; one worker killed.
	began := time.Now()
	ids := make([]string, fleetRuns)
	var wg sync.WaitGroup
	var createErr error
	var errMu sync.Mutex
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < fleetRuns; i += 8 {
				id, err := create(fleetLatency + i)
				errMu.Lock()
				if err != nil && createErr == nil {
					createErr = err
				}
				ids[i] = id
				errMu.Unlock()
			}
		})
	}
	victim := workers[0]
	var held []string // the victim's runs when it died
	var killedAt time.Time
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			var n int
			n, err := db.NewSelect().Model((*fleetRun)(nil)).Where("instance_id = ?", victim.instance).
				Where("status = 'running'").Count(context.Background())
			if err == nil && n > 0 {
				var finished int
				finished, _ = db.NewSelect().Model((*fleetRun)(nil)).Where("instance_id = ?", victim.instance).
					Where("status = 'succeeded'").Count(context.Background())
				if finished >= 5 { // in the middle: it has worked some already
					break
				}
			}
			time.Sleep(20 * time.Millisecond) // polling the records; nothing waits on this
		}
		_ = victim.cmd.Process.Signal(syscall.SIGKILL)
		<-victim.exited
		killedAt = time.Now()
		var rows []fleetRun
		_ = db.NewSelect().Model(&rows).Where("instance_id = ?", victim.instance).
			Where("status IN ('preparing', 'running')").Scan(context.Background())
		for _, r := range rows {
			held = append(held, r.ID)
		}
	}()
	wg.Wait()
	require.NoError(t, createErr)
	created := time.Since(began)
	<-killed
	require.NotEmpty(t, held, "the killed worker held runs")

	// The killed worker's runs end within three heartbeats.
	var heldEnded time.Time
	for _, r := range waitAll(held, 3*fleetHeartbeat+10*time.Second) {
		require.Equal(t, "interrupted", r.Status, "a run of the killed worker: %s", r.ID)
		if r.FinishedAt.After(heldEnded) {
			heldEnded = *r.FinishedAt
		}
	}
	heldTook := heldEnded.Sub(killedAt)
	require.Less(t, heldTook, 3*fleetHeartbeat, "the killed worker's runs are interrupted within three heartbeats")

	rows := waitAll(ids, 10*time.Minute)
	byStatus := map[string]int{}
	var last time.Time
	var loadWaits []time.Duration
	all := claims()
	for _, id := range ids {
		r := rows[id]
		byStatus[r.Status]++
		if r.FinishedAt.After(last) {
			last = *r.FinishedAt
		}
		require.LessOrEqual(t, len(all[id]), 1, "run %s claimed %d times", id, len(all[id]))
		if len(all[id]) == 1 {
			loadWaits = append(loadWaits, all[id][0])
		}
		if r.Status != "succeeded" {
			require.Equal(t, "interrupted", r.Status, "%s: %s", id, r.Error)
			require.Contains(t, held, id, "only the killed worker's runs are interrupted")
		}
	}
	require.Equal(t, fleetRuns-len(held), byStatus["succeeded"])

	// Containers, from Docker's events: at most one per run, exactly one per
	// succeeded run, and never more running at once on a worker than its slots.
	stopEvents()
	<-evDone
	evMu.Lock()
	defer evMu.Unlock()
	mine := map[string]bool{}
	for _, id := range append(slices.Clone(ids), latencyIDs...) {
		mine[id] = true
	}
	created2 := map[string]int{}
	running := map[string]int{}
	peak := map[string]int{}
	for _, m := range evs {
		run, inst := m.Actor.Attributes[containers.LabelRunID], m.Actor.Attributes[containers.LabelInstanceID]
		if !mine[run] {
			continue
		}
		switch m.Action {
		case events.ActionCreate:
			created2[run]++
		case events.ActionStart:
			running[inst]++
			peak[inst] = max(peak[inst], running[inst])
		case events.ActionDie:
			running[inst]--
		}
	}
	for id := range mine {
		require.LessOrEqual(t, created2[id], 1, "run %s had %d containers", id, created2[id])
		if r, ok := rows[id]; ok && r.Status == "succeeded" {
			require.Equal(t, 1, created2[id], "succeeded run %s had %d containers", id, created2[id])
		}
	}
	for inst, n := range peak {
		require.LessOrEqual(t, n, fleetSlots, "worker %s ran %d containers at once", inst, n)
	}
	// The records agree: per worker, runs from start to finish never overlap
	// more than its slots.
	type edge struct {
		at    time.Time
		delta int
	}
	perInst := map[string][]edge{}
	for _, r := range rows {
		if r.StartedAt != nil {
			perInst[r.InstanceID] = append(perInst[r.InstanceID], edge{*r.StartedAt, 1}, edge{*r.FinishedAt, -1})
		}
	}
	for inst, es := range perInst {
		sort.Slice(es, func(i, j int) bool {
			if !es[i].at.Equal(es[j].at) {
				return es[i].at.Before(es[j].at)
			}
			return es[i].delta < es[j].delta
		})
		n, top := 0, 0
		for _, e := range es {
			n += e.delta
			top = max(top, n)
		}
		require.LessOrEqual(t, top, fleetSlots, "worker %s had %d runs at once in its records", inst, top)
	}
	// A worker started again on the killed one's data dir (as a supervisor
	// would) removes the workspaces it left (loop mounts, with workspace
	// limits), and nothing else is left of the fleet's runs.
	again := startFleetProc(t, bin, "worker0-again", victim.dataDir, env, "worker")
	byInstance[again.instance] = again
	left, err := os.ReadDir(filepath.Join(victim.dataDir, "workspaces"))
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	require.Empty(t, left, "the restarted worker removed the killed one's workspaces")
	span := last.Sub(began)
	perMinute := float64(byStatus["succeeded"]) / span.Minutes()
	t.Logf("%s queue, %d runs through %d APIs (created in %s) on %d workers × %d slots: %.0f runs/min (all ended %s after the first POST); POST to claim under load p50 %s p99 %s; peak containers per worker %v",
		backend, fleetRuns, fleetAPIs, created.Round(time.Millisecond), fleetWorkers, fleetSlots, perMinute, span.Round(time.Millisecond),
		pct(loadWaits, 50), pct(loadWaits, 99), peakList(peak))
	t.Logf("%s queue, kill -9 of a worker holding %d runs: all interrupted %s after the kill (heartbeat %s)",
		backend, len(held), heldTook.Round(time.Millisecond), fleetHeartbeat)
}

// pct returns the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

func peakList(peak map[string]int) []int {
	var out []int
	for _, n := range peak {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
