package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/testenv"
)

// childEnv makes the test binary act as the slipway binary, so tests can
// start, signal and kill real server processes without a separate build.
const childEnv = "SLIPWAY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// server is a slipway child process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

// startServer runs `slipway serve` on dataDir and waits for its address.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+dataDir,
		"SLIPWAY_HTTP_ADDR=127.0.0.1:0", "SLIPWAY_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, logs: &bytes.Buffer{}}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
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
		s.url = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start")
	}
	return s
}

func post(client *http.Client, url, token, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

// TestKillDuringWriteStormLosesNoAcknowledgedWrite kills the server with
// SIGKILL while 8 clients create projects, restarts it on the same data dir
// and requires every project whose creation was answered 201 to be there.
func TestKillDuringWriteStormLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		s := startServer(t, dir)
		client := &http.Client{Timeout: 10 * time.Second}
		status, body, err := post(client, s.url+"/v1/auth/signup", "",
			fmt.Sprintf(`{"email":"storm%d@example.com","password":"correct horse battery"}`, round))
		require.NoError(t, err)
		require.Equal(t, 201, status, "%v", body)
		token := body["access_token"].(string)

		var mu sync.Mutex
		var acked []string
		var count atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					status, body, err := post(client, s.url+"/v1/projects", token, fmt.Sprintf(`{"name":"p-%d","description":"%s"}`, i, strings.Repeat("d", 200)))
					if err != nil {
						return // the server is gone
					}
					if status == 201 {
						mu.Lock()
						acked = append(acked, body["id"].(string))
						mu.Unlock()
						count.Add(1)
					}
				}
			}()
		}
		require.Eventually(t, func() bool { return count.Load() >= 150 }, 60*time.Second, 5*time.Millisecond)
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
		wg.Wait()
		_ = s.cmd.Wait()

		s2 := startServer(t, dir)
		mu.Lock()
		ids := append([]string(nil), acked...)
		mu.Unlock()
		for _, id := range ids {
			req, _ := http.NewRequest("GET", s2.url+"/v1/projects/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, 200, res.StatusCode, "acknowledged project %s is lost after kill -9 (round %d)", id, round)
		}
		t.Logf("round %d: %d acknowledged creations survived SIGKILL", round, len(ids))
		require.NoError(t, s2.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, s2.cmd.Wait(), "a clean stop exits 0")
	}
}

func TestSecondServerOnSameDataDirFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	startServer(t, dir)
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+dir, "SLIPWAY_HTTP_ADDR=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 1, "one clear line: %s", out)
	require.Contains(t, lines[0], "already in use by another slipway process")
}

func TestBadSettingIsOneLine(t *testing.T) {
	for env, want := range map[string]string{
		"SLIPWAY_MAX_BODY_BYTES=lots":     "SLIPWAY_MAX_BODY_BYTES",
		"SLIPWAY_AUTH_MODE=ldap":          "SLIPWAY_AUTH_MODE",
		"SLIPWAY_ENV=staging":             "SLIPWAY_ENV",
		"SLIPWAY_AUTH_TOKEN_SECRET=short": "at least 32",
		"SLIPWAY_CORS_ORIGINS=*":          "wildcard",
		"SLIPWAY_HTTP_ADDR=nonsense":      "SLIPWAY_HTTP_ADDR",
		"SLIPWAY_RUN_COMMAND=sh -c 'echo": "SLIPWAY_RUN_COMMAND",
	} {
		t.Run(env, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "serve")
			cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+t.TempDir(), env)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			require.Equal(t, 2, exit.ExitCode())
			require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
			require.Contains(t, string(out), want)
		})
	}
	t.Run("production needs a secret", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "serve")
		cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=production", "SLIPWAY_AUTH_TOKEN_SECRET=",
			"SLIPWAY_DATABASE_URL=postgres://u@127.0.0.1:1/db", "SLIPWAY_S3_BUCKET=b")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		require.Equal(t, 2, exit.ExitCode(), "a bad setting exits 2: %s", out)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
		require.Contains(t, string(out), "SLIPWAY_AUTH_TOKEN_SECRET")
	})
	t.Run("production needs a secrets key", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "serve")
		cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=production", "SLIPWAY_SECRETS_KEY=",
			"SLIPWAY_AUTH_TOKEN_SECRET="+strings.Repeat("k", 32),
			"SLIPWAY_DATABASE_URL=postgres://u@127.0.0.1:1/db", "SLIPWAY_S3_BUCKET=b")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		require.Equal(t, 2, exit.ExitCode(), "a bad setting exits 2: %s", out)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
		require.Contains(t, string(out), "setting SLIPWAY_SECRETS_KEY: required in production")
	})
}

func TestUsersCreate(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "users", "create", "--email", "Root@Example.com", "--password-stdin", "--group", "root", "--group", "operator")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+dir)
	cmd.Stdin = strings.NewReader("a long root password\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "root@example.com")
	require.NotContains(t, string(out), "a long root password")

	s := startServer(t, dir)
	status, body, err := post(http.DefaultClient, s.url+"/v1/auth/login", "", `{"email":"root@example.com","password":"a long root password"}`)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.ElementsMatch(t, []any{"root", "operator"}, body["user"].(map[string]any)["groups"])

	cmd = exec.Command(os.Args[0], "users", "create", "--email", "x@example.com", "--password-stdin", "--group", "wizard")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+t.TempDir())
	cmd.Stdin = strings.NewReader("a long password\n")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "unknown group wizard")
}

// TestWorkerRunsWithoutAListener starts `slipway worker`: it serves no HTTP
// (the configured address stays free) and stops cleanly on SIGTERM.
func TestWorkerRunsWithoutAListener(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cmd := exec.Command(os.Args[0], "worker")
	out := &testenv.Output{}
	cmd.Stderr = out
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+t.TempDir(),
		"SLIPWAY_HTTP_ADDR="+addr, "SLIPWAY_LOG_LEVEL=info", "SLIPWAY_DOCKER_HOST=unix:///nonexistent/docker.sock")
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Contains(out.String(), `"msg":"started"`) }, 20*time.Second, 20*time.Millisecond)
	_, err = net.DialTimeout("tcp", addr, 200*time.Millisecond)
	require.Error(t, err, "a worker listens on nothing")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "%s", out.String())
}
