package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/testenv"
)

// TestSignupStormStaysWithinPasswordBudget sends 120 concurrent sign-ups
// from 120 client addresses (through a trusted proxy's X-Forwarded-For) to a
// real server process hashing with the default argon2id cost, and requires
// its peak resident memory to stay within the password memory budget plus
// a base. Before hashing had a bound, the same storm took the server from
// 40 MiB to 638–813 MiB resident (a heap of up to 784 MiB); with the default
// 128 MiB budget it peaks at 175–203 MiB, part of the storm answered 503.
func TestSignupStormStaysWithinPasswordBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const (
		clients = 120
		budget  = 128 << 20 // the default auth.password_memory_budget
	)
	p := startProcess(t,
		"SLIPWAY_ENV=local", "SLIPWAY_LOG_FORMAT=json", "SLIPWAY_LOG_LEVEL=info", // local: argon2id at its default 7 MiB
		"SLIPWAY_TRUSTED_PROXIES=127.0.0.1", "GODEBUG=gctrace=1",
		fmt.Sprintf("SLIPWAY_AUTH_PASSWORD_MEMORY_BUDGET=%d", budget))
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	// One sign-up first, so the base includes a warm hashing path.
	status, body := signUpFrom(t, client, p.url, "warm@example.com", "198.51.100.250")
	require.Equal(t, http.StatusCreated, status, "%s", body)
	base := procStatusKiB(t, p.cmd.Process.Pid, "VmRSS")
	gcBefore := len(gcHeaps(p.logs.String()))

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	byStatus := map[int]int{}
	for i := range clients {
		wg.Go(func() {
			<-start
			status, body := signUpFrom(t, client, p.url, fmt.Sprintf("storm%d@example.com", i), fmt.Sprintf("198.51.100.%d", i+1))
			if status != http.StatusCreated {
				assert.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
				assert.Contains(t, body, `"service_unavailable"`)
			}
			mu.Lock()
			byStatus[status]++
			mu.Unlock()
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	peak := procStatusKiB(t, p.cmd.Process.Pid, "VmHWM")
	heaps := gcHeaps(p.logs.String())[gcBefore:]
	peakHeap := 0
	for _, h := range heaps {
		peakHeap = max(peakHeap, h)
	}
	t.Logf("%d sign-ups in %s: statuses %v; RSS before %d MiB, peak %d MiB; peak heap %d MiB over %d GCs",
		clients, took.Round(time.Millisecond), byStatus, base/1024, peak/1024, peakHeap, len(heaps))
	require.Positive(t, byStatus[http.StatusCreated], "the storm is served, not only refused")
	// The slack covers what 120 open requests hold besides hashes: goroutine
	// stacks, connection buffers, the runtime's own.
	const slack = 64 << 20
	require.LessOrEqual(t, peakHeap<<20, budget+slack,
		"peak heap %d MiB is over the budget %d MiB + %d MiB", peakHeap, budget>>20, slack>>20)
	if !raceEnabled {
		require.LessOrEqual(t, peak*1024, base*1024+budget+slack,
			"peak RSS %d MiB is over the base %d MiB + the budget %d MiB + %d MiB", peak/1024, base/1024, budget>>20, slack>>20)
	}
}

// process is a slipway server child process whose stderr is kept.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *testenv.Output
}

// startProcess runs `slipway serve` on a fresh data dir with env, and waits
// for its address.
func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLIPWAY_ENV=test", "SLIPWAY_DATA_DIR="+t.TempDir(),
		"SLIPWAY_HTTP_ADDR=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, logs: &testenv.Output{}}
	scanned := make(chan struct{})
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-scanned; _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(p.logs, line+"\n")
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
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start: %s", p.logs.String())
	}
	return p
}

// signUpFrom signs up email through a proxy that saw the client at addr.
func signUpFrom(t *testing.T, client *http.Client, url, email, addr string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/auth/signup",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	res, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// procStatusKiB reads one "kB" field of /proc/pid/status (VmRSS, VmHWM).
func procStatusKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// gcTrace matches the heap sizes of a GODEBUG=gctrace=1 line: at the GC's
// start, at its end, and live, in MiB (the runtime's "MB").
var gcTrace = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// gcHeaps returns, per GC in logs, the larger of the heap sizes when it
// started and ended: the heap's high points, since it grows until a
// collection starts and a little more while it runs.
func gcHeaps(logs string) []int {
	var out []int
	for _, m := range gcTrace.FindAllStringSubmatch(logs, -1) {
		start, _ := strconv.Atoi(m[1])
		end, _ := strconv.Atoi(m[2])
		out = append(out, max(start, end))
	}
	return out
}
