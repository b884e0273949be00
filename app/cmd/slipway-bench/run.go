package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const defaultDuration = 8 * time.Second

type config struct {
	duration time.Duration
	rounds   int
	conns    int
	pgURL    string
	builtin  bool
	slipway  string
	metrics  bool
}

// target is one URL under load.
type target struct {
	name  string
	url   string
	token string
	runs  []result
}

// result is one load run.
type result struct {
	rps      float64
	p50, p99 time.Duration
	non2xx   int
}

// child is a server process.
type child struct {
	cmd       *exec.Cmd
	startup   time.Duration // exec to listening
	inProcess time.Duration // main() to started, as the server logs it
}

func run(cfg config) error {
	dir, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var children []*child
	defer func() {
		for _, c := range children {
			_ = c.cmd.Process.Signal(os.Interrupt)
			_ = c.cmd.Wait()
		}
	}()
	if _, err := os.Stat(cfg.slipway); err != nil {
		return fmt.Errorf("slipway binary: %w (build it: go build -o bin/slipway ./app/cmd/slipway)", err)
	}
	start := func(bin, name string, env ...string) (*child, string, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		c, err := startChild(bin, filepath.Join(dir, name+".log"), append(env, "SLIPWAY_HTTP_ADDR="+addr, "BENCH_ADDR="+addr)...)
		if err != nil {
			return nil, "", fmt.Errorf("start %s: %w", name, err)
		}
		children = append(children, c)
		return c, "http://" + addr, nil
	}
	common := []string{"SLIPWAY_ENV=local", "SLIPWAY_LOG_FORMAT=json", "SLIPWAY_LOG_LEVEL=info",
		"SLIPWAY_AUTH_TOKEN_SECRET=bench-secret-that-is-at-least-32-bytes"}

	jsonChild, jsonURL, err := start(cfg.slipway, "slipway-json", append(common, "SLIPWAY_DATA_DIR="+filepath.Join(dir, "json"))...)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	idle := memory(jsonChild.cmd.Process.Pid)
	token, projectID, err := seed(jsonURL)
	if err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	seeded := memory(jsonChild.cmd.Process.Pid)
	targets := []*target{
		{name: "GET /healthz", url: jsonURL + "/healthz"},
		{name: "GET /v1/projects/{id} json", url: jsonURL + "/v1/projects/" + projectID, token: token},
	}
	var scrapes []string // metrics URLs of the twins
	if cfg.metrics {
		maddr, err := freeAddr()
		if err != nil {
			return err
		}
		_, twinURL, err := start(cfg.slipway, "slipway-json-metrics", append(common,
			"SLIPWAY_DATA_DIR="+filepath.Join(dir, "json-metrics"), "SLIPWAY_METRICS_ADDR="+maddr)...)
		if err != nil {
			return err
		}
		twinToken, twinProject, err := seed(twinURL)
		if err != nil {
			return err
		}
		targets = append(targets, &target{name: "GET /v1/projects/{id} json +metrics", url: twinURL + "/v1/projects/" + twinProject, token: twinToken})
		scrapes = append(scrapes, "http://"+maddr+"/metrics")
	}

	var pgNote string
	if cfg.pgURL != "" {
		pgTargets, pgScrape, cleanup, err := postgresTargets(cfg, dir, common, start)
		defer cleanup()
		if err != nil {
			pgNote = "PostgreSQL targets skipped: " + err.Error()
		} else {
			targets = append(targets, pgTargets...)
			if pgScrape != "" {
				scrapes = append(scrapes, pgScrape)
			}
		}
	}

	load := wrkLoad
	loader := "wrk"
	if _, err := exec.LookPath("wrk"); err != nil || cfg.builtin {
		load, loader = goLoad, "built-in Go client"
	}
	fmt.Printf("load: %s, %d connections, %s per target, %d interleaved rounds\n", loader, cfg.conns, cfg.duration, cfg.rounds)
	stopScraping := scrapeEverySecond(scrapes)
	for r := 0; r < cfg.rounds; r++ {
		order := slices.Clone(targets)
		if r%2 == 1 {
			// Every other round backwards, so a target is not always the one
			// loaded right after the same neighbour.
			slices.Reverse(order)
		}
		for _, t := range order {
			res, err := load(t, cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.runs = append(t.runs, res)
		}
	}
	scraped := stopScraping()
	report(targets)
	for _, line := range scraped {
		fmt.Println(line)
	}
	fmt.Printf("\nslipway (JSON store) startup: %s from main() to serving (as logged), %s from exec to the first answer\n",
		jsonChild.inProcess.Round(100*time.Microsecond), jsonChild.startup.Round(time.Millisecond))
	fmt.Printf("slipway (JSON store) idle memory, 1s after start: %s\n", idle)
	fmt.Printf("slipway (JSON store) idle memory, 5s after a sign-up and a project: %s\n", seeded)
	if pgNote != "" {
		fmt.Println(pgNote)
	}
	return nil
}

// postgresTargets creates a scratch database and starts Slipway and the bare
// pgx reference on it, and with cfg.metrics a second Slipway with metrics
// on, reading the same project, whose metrics URL it returns.
func postgresTargets(cfg config, dir string, common []string,
	start func(bin, name string, env ...string) (*child, string, error)) ([]*target, string, func(), error) {
	adminURL, slipway := cfg.pgURL, cfg.slipway
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, "", func() {}, err
	}
	name := fmt.Sprintf("slipway_bench_%d", os.Getpid())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, "", func() {}, err
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	}
	dbURL := strings.Replace(adminURL, "/postgres?", "/"+name+"?", 1)
	_, pgURL, err := start(slipway, "slipway-postgres", append(common,
		"SLIPWAY_CPUPROFILE="+os.Getenv("BENCH_PG_CPUPROFILE"),
		"SLIPWAY_DATA_DIR="+filepath.Join(dir, "pg"), "SLIPWAY_STORAGE_BACKEND=postgres",
		"SLIPWAY_DATABASE_URL="+dbURL, "SLIPWAY_AUTO_MIGRATE=true")...)
	if err != nil {
		return nil, "", cleanup, err
	}
	token, projectID, err := seed(pgURL)
	if err != nil {
		return nil, "", cleanup, err
	}
	_, bareURL, err := start(os.Args[0], "bare-pgx", "BENCH_MODE=serve-bare", "BENCH_DATABASE_URL="+dbURL)
	if err != nil {
		return nil, "", cleanup, err
	}
	targets := []*target{
		{name: "GET /v1/projects/{id} postgres", url: pgURL + "/v1/projects/" + projectID, token: token},
		{name: "bare fiber+pgx same read", url: bareURL + "/v1/projects/" + projectID},
	}
	if !cfg.metrics {
		return targets, "", cleanup, nil
	}
	// The twin shares the database (and the token secret), so it reads the
	// very same row with the same token.
	maddr, err := freeAddr()
	if err != nil {
		return nil, "", cleanup, err
	}
	_, twinURL, err := start(slipway, "slipway-postgres-metrics", append(common,
		"SLIPWAY_DATA_DIR="+filepath.Join(dir, "pg-metrics"), "SLIPWAY_STORAGE_BACKEND=postgres",
		"SLIPWAY_DATABASE_URL="+dbURL, "SLIPWAY_METRICS_ADDR="+maddr)...)
	if err != nil {
		return nil, "", cleanup, err
	}
	twin := &target{name: "GET /v1/projects/{id} postgres +metrics", url: twinURL + "/v1/projects/" + projectID, token: token}
	targets = []*target{targets[0], twin, targets[1]} // each pair side by side in a round
	return targets, "http://" + maddr + "/metrics", cleanup, nil
}

// scrapeEverySecond scrapes each metrics URL once a second, as a Prometheus
// with a short interval would, until the returned func is called; that
// returns a line per URL: scrapes, their median time and size, and the
// number of series.
func scrapeEverySecond(urls []string) func() []string {
	done := make(chan struct{})
	lines := make(chan string, len(urls))
	for _, u := range urls {
		go func() {
			var took []float64
			var size, series int
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					if len(took) == 0 {
						lines <- fmt.Sprintf("metrics %s: no successful scrape", u)
						return
					}
					lines <- fmt.Sprintf("metrics %s: %d scrapes, median %s, %d bytes, %d series",
						u, len(took), time.Duration(median(took)).Round(10*time.Microsecond), size, series)
					return
				case <-t.C:
				}
				began := time.Now()
				res, err := http.Get(u)
				if err != nil {
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK {
					continue
				}
				took = append(took, float64(time.Since(began)))
				size, series = len(body), 0
				for _, line := range strings.Split(string(body), "\n") {
					if line != "" && !strings.HasPrefix(line, "#") {
						series++
					}
				}
			}
		}()
	}
	return func() []string {
		close(done)
		out := make([]string, 0, len(urls))
		for range urls {
			out = append(out, <-lines)
		}
		sort.Strings(out)
		return out
	}
}

// startChild runs bin (the slipway binary, or this one in serve-bare mode)
// and waits for its "listening" log line, teeing its log to logPath.
func startChild(bin, logPath string, env ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"serve"}
	for _, e := range env {
		if e == "BENCH_MODE=serve-bare" {
			args = []string{"serve-bare"}
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	listening := make(chan time.Duration, 1)
	started := make(chan time.Duration, 1)
	go teeLog(errPipe, logFile, began, listening, started)
	c := &child{cmd: cmd}
	// Serving is measured by polling, not by the log line: logs are buffered.
	addr := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "BENCH_ADDR="); ok {
			addr = v
		}
	}
	for {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			c.startup = time.Since(began)
			break
		}
		if time.Since(began) > 30*time.Second {
			_ = cmd.Process.Kill()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("not serving after 30s: %s", lastLine(log))
		}
		time.Sleep(time.Millisecond)
	}
	_ = listening
	select {
	case c.inProcess = <-started:
	case <-time.After(2 * time.Second): // the bare server logs no startup
	}
	return c, nil
}

// teeLog copies a child's log from r to w and reports when the child logged
// "listening" (the time since began) and "started" (the startup it logged).
//
// The child's log is this machine's work too: decoding every access line
// and writing each with its own syscall cost the Slipway targets (and only
// them: the bare server logs nothing) several percent of the CPU they are
// measured on. So only the startup lines are read one by one; once the child
// has logged "started", the rest is copied in bulk.
func teeLog(r io.Reader, w io.Writer, began time.Time, listening, started chan<- time.Duration) {
	rd := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := rd.ReadSlice('\n')
		_, _ = w.Write(line)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if !bytes.Contains(line, []byte(`"msg":"listening"`)) && !bytes.Contains(line, []byte(`"msg":"started"`)) {
			continue
		}
		var entry struct {
			Msg     string  `json:"msg"`
			Startup float64 `json:"startup"` // zap logs durations in seconds
		}
		if json.Unmarshal(line, &entry) != nil {
			continue
		}
		switch entry.Msg {
		case "listening":
			select { // a second "listening" must not stop the copying
			case listening <- time.Since(began):
			default:
			}
		case "started":
			started <- time.Duration(entry.Startup * float64(time.Second))
			_, _ = io.Copy(w, rd)
			return
		}
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// seed signs a user up and creates one project through the API.
func seed(base string) (token, projectID string, err error) {
	post := func(path, tok string, body any, out any) error {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 201 {
			return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, b)
		}
		return json.Unmarshal(b, out)
	}
	var session struct {
		AccessToken string `json:"access_token"`
	}
	if err := post("/v1/auth/signup", "", map[string]string{"email": "bench@example.com", "password": "bench password"}, &session); err != nil {
		return "", "", err
	}
	var project struct {
		ID string `json:"id"`
	}
	if err := post("/v1/projects", session.AccessToken, map[string]string{"name": "bench", "description": "a project read under load"}, &project); err != nil {
		return "", "", err
	}
	return session.AccessToken, project.ID, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// mem is a process's memory as /proc sees it.
type mem struct{ rss, anon, pss float64 }

func (m mem) String() string {
	return fmt.Sprintf("RSS %.1f MiB (anonymous %.1f MiB, proportional %.1f MiB; the rest is the binary's own mapped pages)", m.rss, m.anon, m.pss)
}

// memory reads a process's resident, anonymous and proportional memory.
func memory(pid int) mem {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return mem{}
	}
	var m mem
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			m.rss = kb / 1024
		case "Anonymous:":
			m.anon = kb / 1024
		case "Pss:":
			m.pss = kb / 1024
		}
	}
	return m
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func report(targets []*target) {
	fmt.Printf("\n%-42s %12s %10s %10s %8s\n", "target", "req/s", "p50", "p99", "non-2xx")
	rps := map[string]float64{}
	for _, t := range targets {
		var r, p50, p99 []float64
		bad := 0
		for _, x := range t.runs {
			r = append(r, x.rps)
			p50 = append(p50, float64(x.p50))
			p99 = append(p99, float64(x.p99))
			bad += x.non2xx
		}
		rps[t.name] = median(r)
		fmt.Printf("%-42s %12.0f %10s %10s %8d\n", t.name, median(r),
			time.Duration(median(p50)).Round(time.Microsecond), time.Duration(median(p99)).Round(time.Microsecond), bad)
	}
	fmt.Println()
	ratio := func(a, b string) {
		if rps[a] > 0 && rps[b] > 0 {
			fmt.Printf("ratio %-42s / %-32s = %.2f\n", a, b, rps[a]/rps[b])
		}
	}
	ratio("GET /v1/projects/{id} json", "GET /healthz")
	ratio("GET /v1/projects/{id} postgres", "GET /healthz")
	ratio("GET /v1/projects/{id} postgres", "bare fiber+pgx same read")
	ratio("GET /v1/projects/{id} json", "bare fiber+pgx same read")
	ratio("GET /v1/projects/{id} json +metrics", "GET /v1/projects/{id} json")
	ratio("GET /v1/projects/{id} postgres +metrics", "GET /v1/projects/{id} postgres")
	ratio("GET /v1/projects/{id} postgres +metrics", "bare fiber+pgx same read")
	// The spread of a pair's ratio over the rounds is the noise the median
	// ratio above has to be read against.
	byName := map[string]*target{}
	for _, t := range targets {
		byName[t.name] = t
	}
	for _, pair := range [][3]string{
		{"GET /v1/projects/{id} postgres", "bare fiber+pgx same read", "bare"},
		{"GET /v1/projects/{id} json +metrics", "GET /v1/projects/{id} json", "off"},
		{"GET /v1/projects/{id} postgres +metrics", "GET /v1/projects/{id} postgres", "off"},
	} {
		a, b := byName[pair[0]], byName[pair[1]]
		if a == nil || b == nil || len(a.runs) != len(b.runs) {
			continue
		}
		var rs []string
		for i := range a.runs {
			rs = append(rs, fmt.Sprintf("%.2f", a.runs[i].rps/b.runs[i].rps))
		}
		fmt.Printf("per round %-38s / %s: %s\n", pair[0], pair[2], strings.Join(rs, " "))
	}
}
