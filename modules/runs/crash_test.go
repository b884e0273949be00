package runs_test

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
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app"
	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// childEnv makes the test binary serve the whole app, as the slipway binary
// does, so tests can kill a real server process.
const childEnv = "SLIPWAY_RUNS_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serve())
	}
	os.Exit(m.Run())
}

// serve is `slipway serve`.
func serve() int {
	s, err := settings.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	a := fx.New(app.Options(s), fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(stop); err != nil {
		return 1
	}
	return 0
}

// process is a server child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
}

func startProcess(t *testing.T, dataDir string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+dataDir,
		"SLIPWAY_HTTP_ADDR=127.0.0.1:0", "SLIPWAY_LOG_LEVEL=info", "SLIPWAY_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("server did not start:\n%s", p.logs.String())
	}
	return p
}

func (p *process) call(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m
}

// TestKilledServerLeavesNothingBehind starts a long run in a server
// process, kills the process with SIGKILL, restarts it on the same data dir
// and requires the run's container gone and the run interrupted.
func TestKilledServerLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	rt, image := apptest.RunImage(t)
	dir := t.TempDir()
	env := []string{"SLIPWAY_RUN_IMAGE=" + image, "SLIPWAY_RUN_COMMAND=sleep 60",
		"SLIPWAY_DOCKER_HOST=" + containertest.Host()}
	p := startProcess(t, dir, env...)

	status, body := p.call(t, "POST", "/v1/auth/signup", "", map[string]any{"email": "crash@example.com", "password": "correct horse battery"})
	require.Equal(t, 201, status, "%v", body)
	token := body["access_token"].(string)
	status, body = p.call(t, "POST", "/v1/projects", token, map[string]any{"name": "p"})
	require.Equal(t, 201, status, "%v", body)
	status, body = p.call(t, "POST", "/v1/projects/"+body["id"].(string)+"/repositories", token,
		map[string]any{"url": apptest.GitRepo(t, map[string]string{"a.txt": "a\n"})})
	require.Equal(t, 201, status, "%v", body)
	status, body = p.call(t, "POST", "/v1/repositories/"+body["id"].(string)+"/runs", token, map[string]any{"prompt": "wait"})
	require.Equal(t, 202, status, "%v", body)
	runID := body["id"].(string)
	t.Cleanup(func() {
		list, _ := rt.List(context.Background(), containers.Filter{RunID: runID})
		for _, c := range list {
			_ = rt.Remove(context.Background(), c.ID)
		}
	})
	require.Eventually(t, func() bool {
		_, body := p.call(t, "GET", "/v1/runs/"+runID, token, nil)
		return body["status"] == "running"
	}, 60*time.Second, 50*time.Millisecond)
	list, err := rt.List(context.Background(), containers.Filter{RunID: runID})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, list[0].Running())

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
	list, err = rt.List(context.Background(), containers.Filter{RunID: runID})
	require.NoError(t, err)
	require.Len(t, list, 1, "the kill left the container behind")

	began := time.Now()
	p2 := startProcess(t, dir, env...)
	t.Logf("restart to listening: %s", time.Since(began))
	// The listener starts before the runs module's clean-up; it follows
	// within the start.
	require.Eventually(t, func() bool {
		list, err := rt.List(context.Background(), containers.Filter{RunID: runID})
		require.NoError(t, err)
		entries, err := os.ReadDir(dir + "/workspaces")
		require.NoError(t, err)
		return len(list) == 0 && len(entries) == 0
	}, 10*time.Second, 20*time.Millisecond, "the restart removes the dead instance's container and workspace")
	_, body = p2.call(t, "GET", "/v1/runs/"+runID, token, nil)
	require.Equal(t, "interrupted", body["status"], "%v", body)
	require.Equal(t, "the server stopped while the run was active", body["error"])

	require.NoError(t, p2.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p2.cmd.Wait(), "a clean stop exits 0")
	p2.mu.Lock()
	require.True(t, strings.Contains(p2.logs.String(), `"containers_removed":1`), "%s", p2.logs.String())
	p2.mu.Unlock()
}
