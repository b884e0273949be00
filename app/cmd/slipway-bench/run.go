package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	startup   time.Duration // exec to ready
	inProcess time.Duration // main() to ready: settings, fx graph, stores, listener
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
	start := func(mode, name string, env ...string) (*child, string, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		c, err := startChild(mode, filepath.Join(dir, name+".log"), append(env, "SLIPWAY_HTTP_ADDR="+addr, "BENCH_ADDR="+addr)...)
		if err != nil {
			return nil, "", fmt.Errorf("start %s: %w", name, err)
		}
		children = append(children, c)
		return c, "http://" + addr, nil
	}
	common := []string{"SLIPWAY_ENV=local", "SLIPWAY_LOG_FORMAT=json", "SLIPWAY_LOG_LEVEL=info",
		"SLIPWAY_AUTH_TOKEN_SECRET=bench-secret-that-is-at-least-32-bytes"}

	jsonChild, jsonURL, err := start("serve-slipway", "slipway-json", append(common, "SLIPWAY_DATA_DIR="+filepath.Join(dir, "json"))...)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	idleRSS := residentMiB(jsonChild.cmd.Process.Pid)
	token, projectID, err := seed(jsonURL)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	seededRSS := residentMiB(jsonChild.cmd.Process.Pid)
	targets := []*target{
		{name: "GET /healthz", url: jsonURL + "/healthz"},
		{name: "GET /v1/projects/{id} json", url: jsonURL + "/v1/projects/" + projectID, token: token},
	}

	var pgNote string
	if cfg.pgURL != "" {
		pgTargets, cleanup, err := postgresTargets(cfg.pgURL, dir, common, start)
		defer cleanup()
		if err != nil {
			pgNote = "PostgreSQL targets skipped: " + err.Error()
		} else {
			targets = append(targets, pgTargets...)
		}
	}

	load := wrkLoad
	loader := "wrk"
	if _, err := exec.LookPath("wrk"); err != nil || cfg.builtin {
		load, loader = goLoad, "built-in Go client"
	}
	fmt.Printf("load: %s, %d connections, %s per target, %d interleaved rounds\n", loader, cfg.conns, cfg.duration, cfg.rounds)
	for r := 0; r < cfg.rounds; r++ {
		for _, t := range targets {
			res, err := load(t, cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.runs = append(t.runs, res)
		}
	}
	report(targets)
	fmt.Printf("\nslipway (JSON store) startup: %s from main() to listening, %s from exec\n",
		jsonChild.inProcess.Round(100*time.Microsecond), jsonChild.startup.Round(time.Millisecond))
	fmt.Printf("slipway (JSON store) idle RSS: %.1f MiB after start, %.1f MiB after a sign-up and a project\n", idleRSS, seededRSS)
	if pgNote != "" {
		fmt.Println(pgNote)
	}
	return nil
}

// postgresTargets creates a scratch database and starts Slipway and the bare
// pgx reference on it.
func postgresTargets(adminURL, dir string, common []string,
	start func(mode, name string, env ...string) (*child, string, error)) ([]*target, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, func() {}, err
	}
	name := fmt.Sprintf("slipway_bench_%d", os.Getpid())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, func() {}, err
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	}
	dbURL := strings.Replace(adminURL, "/postgres?", "/"+name+"?", 1)
	_, pgURL, err := start("serve-slipway", "slipway-postgres", append(common,
		"SLIPWAY_DATA_DIR="+filepath.Join(dir, "pg"), "SLIPWAY_STORAGE_BACKEND=postgres",
		"SLIPWAY_DATABASE_URL="+dbURL, "SLIPWAY_AUTO_MIGRATE=true")...)
	if err != nil {
		return nil, cleanup, err
	}
	token, projectID, err := seed(pgURL)
	if err != nil {
		return nil, cleanup, err
	}
	_, bareURL, err := start("serve-bare", "bare-pgx", "BENCH_DATABASE_URL="+dbURL)
	if err != nil {
		return nil, cleanup, err
	}
	return []*target{
		{name: "GET /v1/projects/{id} postgres", url: pgURL + "/v1/projects/" + projectID, token: token},
		{name: "bare fiber+pgx same read", url: bareURL + "/v1/projects/" + projectID},
	}, cleanup, nil
}

func startChild(mode, logPath string, env ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], mode)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	var inProcess time.Duration
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		fields := strings.Fields(line)
		if err == nil && (len(fields) == 0 || fields[0] != "ready") {
			err = fmt.Errorf("unexpected %q", line)
		}
		if err == nil && len(fields) > 1 {
			us, _ := strconv.Atoi(fields[1])
			inProcess = time.Duration(us) * time.Microsecond
		}
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err := <-ready:
		if err != nil {
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%w: %s", err, lastLine(log))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("not ready after 30s")
	}
	return &child{cmd: cmd, startup: time.Since(began), inProcess: inProcess}, nil
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

// residentMiB reads a process's resident memory from /proc.
func residentMiB(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func report(targets []*target) {
	fmt.Printf("\n%-34s %12s %10s %10s %8s\n", "target", "req/s", "p50", "p99", "non-2xx")
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
		fmt.Printf("%-34s %12.0f %10s %10s %8d\n", t.name, median(r),
			time.Duration(median(p50)).Round(time.Microsecond), time.Duration(median(p99)).Round(time.Microsecond), bad)
	}
	fmt.Println()
	ratio := func(a, b string) {
		if rps[a] > 0 && rps[b] > 0 {
			fmt.Printf("ratio %-34s / %-30s = %.2f\n", a, b, rps[a]/rps[b])
		}
	}
	ratio("GET /v1/projects/{id} json", "GET /healthz")
	ratio("GET /v1/projects/{id} postgres", "GET /healthz")
	ratio("GET /v1/projects/{id} postgres", "bare fiber+pgx same read")
	ratio("GET /v1/projects/{id} json", "bare fiber+pgx same read")
}
