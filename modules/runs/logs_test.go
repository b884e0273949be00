package runs_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// rotating runs the agents on a runtime whose log driver rotates its files
// every MiB, keeping two: anything that read those files would lose most of
// a fast agent's output.
func rotating(t *testing.T, s *settings.Settings) fx.Option {
	t.Helper()
	cfg, err := containers.ConfigFromSettings(s)
	require.NoError(t, err)
	cfg.LogMaxBytes, cfg.LogMaxFiles = 1<<20, 2
	rt := containertest.Runtime(t, cfg)
	return fx.Decorate(func(containers.Engine) containers.Engine { return rt })
}

// lossyStore fails every third append after storing it, as a store whose
// answer is lost (a timeout, a dropped connection) does.
type lossyStore struct {
	objects.Store
	appends, lost atomic.Int64
}

func (s *lossyStore) AppendAt(ctx context.Context, key string, off int64, p []byte) error {
	if err := s.Store.AppendAt(ctx, key, off, p); err != nil {
		return err
	}
	if s.appends.Add(1)%3 == 1 {
		s.lost.Add(1)
		return derrors.Unavailable("object store", errors.New("injected: stored, but the answer was lost"))
	}
	return nil
}

// shaPrompt has the agent run cmd, writing its output, and then the sha256
// of that output, on the same stream.
func shaPrompt(cmd string) string {
	return "sh: { " + cmd + " | tee /proc/self/fd/3 | sha256sum; } 3>&1"
}

// agentLog is what a run's log held, read as a stream: the length and
// sha256 of the agent's output between the test agent's "start" and its
// sha256 line, and the sha256 the agent reported.
type agentLog struct {
	n              int64
	sum, reported  string
	start, trailer string
}

// readAgentLog reads the log of a run of shaPrompt through the API, never
// holding more than a buffer of it.
func (h *harness) readAgentLog(t *testing.T, user apptest.User, id string) agentLog {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+"/v1/runs/"+id+"/logs", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+user.Token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "bytes", res.Header.Get("Accept-Ranges"))
	body := bufio.NewReaderSize(res.Body, 64<<10)
	start, err := body.ReadString('\n')
	require.NoError(t, err)
	const trailer = 64 + len("  -\n") + len("done\n")
	h256 := sha256.New()
	var n int64
	var last []byte
	buf := make([]byte, 64<<10)
	for {
		k, err := body.Read(buf)
		last = append(last, buf[:k]...)
		if over := len(last) - trailer; over > 0 {
			h256.Write(last[:over])
			n += int64(over)
			last = append(last[:0], last[over:]...)
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Len(t, last, trailer)
	return agentLog{n: n, sum: hex.EncodeToString(h256.Sum(nil)), reported: string(last[:64]), start: start, trailer: string(last[64:])}
}

// TestLogIsWhatTheAgentWrote has agents write tens of MB as fast as they
// can while Docker's log driver rotates its files every MiB and one append
// in three fails after the store kept it: the stored log, read back through
// the API, has the sha256 the agent computed of what it wrote.
func TestLogIsWhatTheAgentWrote(t *testing.T) {
	seq := sha256.New()
	for i := 1; i <= 3_000_000; i++ {
		fmt.Fprintf(seq, "%d\n", i)
	}
	tests := []struct {
		name    string
		backend func(t *testing.T) []apptest.Option
		cmd     string
		size    int64
		sum     string // when known beforehand
	}{
		{"seq 1 3000000 on the local store", func(*testing.T) []apptest.Option { return nil },
			"seq 1 3000000", 22_888_896, hex.EncodeToString(seq.Sum(nil))},
		{"64 MiB of random base64 on S3", func(t *testing.T) []apptest.Option {
			opt, _ := apptest.S3(t)
			return []apptest.Option{opt}
		}, "head -c 50331648 /dev/urandom | base64", 67_991_876, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, image := apptest.RunImage(t)
			opts := append([]apptest.Option{apptest.WithRuns(image, "sh", "-c", agentScript),
				func(s *settings.Settings) { s.Runs.MaxLogBytes = 256 << 20 }}, tt.backend(t)...)
			s := apptest.Settings(t, opts...)
			var lossy *lossyStore
			h := startTuned(t, s, rt, image, nil, rotating(t, s),
				fx.Decorate(func(o objects.Store) objects.Store { lossy = &lossyStore{Store: o}; return lossy }))
			u := h.SignUp()
			repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
			r := h.create(t, u, repo.ID, map[string]any{"prompt": shaPrompt(tt.cmd)})
			done := h.WaitRun(u.Token, r.ID, 5*time.Minute, terminal)
			require.Equal(t, "succeeded", done.Status, "%v", done.Error)
			require.False(t, done.LogTruncated)

			got := h.readAgentLog(t, u, r.ID)
			require.Equal(t, "start\n", got.start)
			require.Equal(t, "  -\ndone\n", got.trailer)
			require.Equal(t, tt.size, got.n, "bytes stored")
			require.Equal(t, got.reported, got.sum, "sha256 of the stored bytes is the agent's")
			if tt.sum != "" {
				require.Equal(t, tt.sum, got.sum)
			}
			require.Positive(t, lossy.lost.Load(), "appends failed after storing")
			t.Logf("%s: %d bytes written, %d stored, sha256 %s (agent: %s), %d of %d appends answered with a failure",
				tt.name, tt.size, got.n, got.sum, got.reported, lossy.lost.Load(), lossy.appends.Load())
		})
	}
}

// TestLogIsCappedAndServedInRanges has an agent write past
// runs.max_log_bytes: the log is its first max bytes and a marker, the run
// says so, and the log is served whole or by byte range.
func TestLogIsCappedAndServedInRanges(t *testing.T) {
	const max = 1 << 20
	h := start(t, func(s *settings.Settings) { s.Runs.MaxLogBytes = max })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: head -c 5000000 /dev/zero | tr '\0' y; echo; echo after`})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status)
	require.True(t, done.LogTruncated, "the run records the cut")
	require.Equal(t, []string{"the log reached runs.max_log_bytes (1048576 bytes): the agent's further output was discarded"}, done.Warnings)

	marker := "\n[slipway: log truncated at 1048576 bytes; the agent's further output was discarded]\n"
	want := "start\n" + strings.Repeat("y", max-len("start\n")) + marker
	res := h.Get("/v1/runs/"+r.ID+"/logs", u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, want, string(res.Body))
	require.Equal(t, "bytes", res.Header.Get("Accept-Ranges"))
	require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
	size := int64(len(want))

	get := func(rng string) *apptest.Response {
		return h.Do(apptest.Request{Method: http.MethodGet, Path: "/v1/runs/" + r.ID + "/logs", Token: u.Token,
			Header: map[string]string{"Range": rng}})
	}
	for _, tt := range []struct {
		rng         string
		first, last int64
	}{
		{"bytes=0-9", 0, 9},
		{"bytes=6-", 6, size - 1},
		{"bytes=-20", size - 20, size - 1},
		{"bytes=1048570-1048600", 1048570, 1048600},
		{"bytes=100-99999999", 100, size - 1},
		{"bytes=-99999999", 0, size - 1},
		{" bytes=3-3", 3, 3},
	} {
		res := get(tt.rng)
		require.Equal(t, http.StatusPartialContent, res.Status, tt.rng)
		require.Equal(t, want[tt.first:tt.last+1], string(res.Body), tt.rng)
		require.Equal(t, fmt.Sprintf("bytes %d-%d/%d", tt.first, tt.last, size), res.Header.Get("Content-Range"), tt.rng)
		require.Equal(t, "bytes", res.Header.Get("Accept-Ranges"), tt.rng)
	}
	for _, rng := range []string{fmt.Sprintf("bytes=%d-", size), "bytes=99999999-", "bytes=-0"} {
		res := get(rng)
		require.Equal(t, http.StatusRequestedRangeNotSatisfiable, res.Status, rng)
		require.Equal(t, "range_not_satisfiable", res.ErrorCode(t), rng)
		require.Equal(t, fmt.Sprintf("bytes */%d", size), res.Header.Get("Content-Range"), rng)
		require.EqualValues(t, size, res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["size"])
	}
	for _, rng := range []string{"bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=x-", "bytes=--1", "bytes=1"} {
		res := get(rng)
		require.Equal(t, http.StatusOK, res.Status, "%s is ignored", rng)
		require.Equal(t, want, string(res.Body), rng)
	}

	// A run that never started has an empty log, which no range reaches.
	empty := h.create(t, u, repo.ID, map[string]any{"prompt": "x", "branch": "no-such-branch"})
	require.Equal(t, "failed", h.wait(t, u, empty.ID, terminal).Status)
	res = h.Get("/v1/runs/"+empty.ID+"/logs", u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Empty(t, res.Body)
	res = h.Do(apptest.Request{Method: http.MethodGet, Path: "/v1/runs/" + empty.ID + "/logs", Token: u.Token,
		Header: map[string]string{"Range": "bytes=0-"}})
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, res.Status)
	require.Equal(t, "bytes */0", res.Header.Get("Content-Range"))
}

// TestFollowsAreCapped opens log streams up to the caps: one more is a 429
// with Retry-After, per user and per instance, and closing one frees it.
func TestFollowsAreCapped(t *testing.T) {
	h := start(t, func(s *settings.Settings) { s.Runs.MaxFollowsPerUser, s.Runs.MaxFollows = 2, 3 })
	ada, bob := h.SignUp(), h.SignUp()
	run := func(u apptest.User) string {
		repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
		r := h.create(t, u, repo.ID, map[string]any{"prompt": "sh: sleep 60"})
		h.wait(t, u, r.ID, is("running"))
		return r.ID
	}
	adaRun, bobRun := run(ada), run(bob)
	refused := func(u apptest.User, id string) map[string]any {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, h.URL+"/v1/runs/"+id+"/logs?follow=true", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+u.Token)
		// A stream (the cap not holding) would never end: read what a
		// refusal holds, and no more.
		res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Equal(t, "5", res.Header.Get("Retry-After"))
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		r := &apptest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
		require.Equal(t, "rate_limited", r.ErrorCode(t))
		return r.JSON(t)["error"].(map[string]any)
	}

	first, _ := h.follow(t, ada.Token, adaRun, nil)
	h.follow(t, ada.Token, adaRun, nil)
	e := refused(ada, adaRun)
	require.Contains(t, e["message"], "you already follow 2 run logs")
	require.EqualValues(t, 2, e["details"].(map[string]any)["limit"])

	h.follow(t, bob.Token, bobRun, nil) // the instance's third
	e = refused(bob, bobRun)
	require.Contains(t, e["message"], "this server")
	require.Equal(t, 3, h.svc.Followers())

	first.Body.Close()
	require.Eventually(t, func() bool { return h.svc.Followers() == 2 }, 10*time.Second, 20*time.Millisecond)
	h.follow(t, bob.Token, bobRun, nil) // the slot is free again
}

// stuckFollower opens a log stream on a raw connection with a small
// receive buffer, and never reads from it; with no runID, it only dials.
func stuckFollower(t *testing.T, h *harness, token, runID string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	if runID == "" {
		return conn
	}
	_, err = fmt.Fprintf(conn, "GET /v1/runs/%s/logs?follow=true HTTP/1.1\r\nHost: slipway\r\nAuthorization: Bearer %s\r\n\r\n", runID, token)
	require.NoError(t, err)
	return conn
}

// heapPeak samples the live heap (collecting first, so that garbage waiting
// for the collector does not count) until stop is closed and returns the
// highest value seen. It measures; it synchronises nothing.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapNow())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// heapNow is the live heap: what the heap holds right after a collection.
func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStuckFollowersAreDroppedAndMemoryStaysBounded has an agent write a
// 64 MiB log on a single line while three clients follow it and never read:
// each is dropped once a write to it has waited for the write timeout, and
// the heap stays small while it lasts. Then the whole log is downloaded
// while the heap is watched again.
func TestStuckFollowersAreDroppedAndMemoryStaysBounded(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript),
		func(s *settings.Settings) { s.Runs.MaxLogBytes = 128 << 20 })
	const writeTimeout = 2 * time.Second
	h := startTuned(t, s, rt, image, func(t *runs.Tuning) { t.FollowWriteTimeout = writeTimeout })
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	goroutines := runtime.NumGoroutine()
	base := heapNow()

	stop := make(chan struct{})
	peak := heapPeak(stop)
	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: sleep 1; head -c 67108864 /dev/zero | tr '\0' x; sleep 10`})
	h.wait(t, u, r.ID, is("running"))
	var conns []net.Conn
	for range 3 {
		conns = append(conns, stuckFollower(t, h, u.Token, r.ID))
	}
	require.Eventually(t, func() bool { return h.svc.Followers() == 3 }, 10*time.Second, 10*time.Millisecond)
	dropped := time.Now()
	require.Eventually(t, func() bool { return h.svc.Followers() == 0 }, time.Minute, 10*time.Millisecond,
		"stuck followers are dropped")
	t.Logf("3 stuck followers dropped %s after they opened (write timeout %s)", time.Since(dropped).Round(time.Millisecond), writeTimeout)
	require.Equal(t, "running", h.GetRun(u.Token, r.ID).Status, "dropped while the log was still being written")
	done := h.wait(t, u, r.ID, terminal)
	close(stop)
	followPeak := <-peak
	require.Equal(t, "succeeded", done.Status)
	for _, c := range conns {
		// The server closed each connection: after what the kernel
		// buffered, the client reads the end.
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err := io.Copy(io.Discard, c)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+5 }, 10*time.Second, 20*time.Millisecond,
		"the followers' goroutines are gone")

	// The log: 64 MiB on one line, downloaded whole.
	base2 := heapNow()
	stop = make(chan struct{})
	peak = heapPeak(stop)
	req, err := http.NewRequest(http.MethodGet, h.URL+"/v1/runs/"+r.ID+"/logs", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+u.Token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	n, err := io.CopyBuffer(io.Discard, res.Body, make([]byte, 32<<10))
	require.NoError(t, err)
	res.Body.Close()
	close(stop)
	getPeak := <-peak
	require.Equal(t, int64(len("start\n")+64<<20+len("done\n")), n)

	t.Logf("live heap: %.1f MiB before; peak %.1f MiB during the 64 MiB log with 3 stuck followers; peak %.1f MiB (from %.1f MiB) while GET streamed it",
		mebi(base), mebi(followPeak), mebi(getPeak), mebi(base2))
	require.Less(t, followPeak, base+64<<20, "the run's log and its followers hold far less than the log")
	require.Less(t, getPeak, base2+16<<20, "the log is streamed, not read whole")
}

func mebi(n uint64) float64 { return float64(n) / (1 << 20) }

// failingStore refuses every append after the first n.
type failingStore struct {
	objects.Store
	n, appends atomic.Int64
}

func (s *failingStore) AppendAt(ctx context.Context, key string, off int64, p []byte) error {
	if s.appends.Add(1) > s.n.Load() {
		return derrors.Unavailable("object store", errors.New("injected: down"))
	}
	return s.Store.AppendAt(ctx, key, off, p)
}

// TestRunFailsWhenItsLogCannotBeStored has the object store go down while
// an agent writes: the agent is held back, then stopped, and the run fails
// saying why, instead of the server holding the agent's output.
func TestRunFailsWhenItsLogCannotBeStored(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript))
	store := &failingStore{}
	store.n.Store(1)
	h := startTuned(t, s, rt, image, func(t *runs.Tuning) {
		t.MaxPendingLog = 1 << 20
		t.LogStoreFailAfter = 2 * time.Second
	}, fx.Decorate(func(o objects.Store) objects.Store { store.Store = o; return store }))
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	began := time.Now()
	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: sleep 1; head -c 50000000 /dev/zero | tr '\0' z; sleep 120`})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "failed", done.Status)
	require.Contains(t, *done.Error, "object store kept failing")
	require.Less(t, time.Since(began), time.Minute, "stopped, not waited for")
	require.Empty(t, h.containersOf(t, r.ID))
	require.True(t, bytes.HasPrefix(h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body, []byte("start\n")))
}

// openReads counts the log readers the object store has open.
type openReads struct {
	objects.Store
	open atomic.Int64
}

func (s *openReads) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := s.Store.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	s.open.Add(1)
	return &closeCounted{ReadCloser: rc, s: s}, nil
}

type closeCounted struct {
	io.ReadCloser
	s    *openReads
	once atomic.Bool
}

func (c *closeCounted) Close() error {
	if !c.once.Swap(true) {
		c.s.open.Add(-1)
	}
	return c.ReadCloser.Close()
}

// TestStuckDownloadIsDropped asks for a 16 MiB log on a raw connection with
// a small receive buffer and never reads: once a write has waited for the
// write timeout, the server closes the connection and the store reader.
func TestStuckDownloadIsDropped(t *testing.T) {
	rt, image := apptest.RunImage(t)
	s := apptest.Settings(t, apptest.WithRuns(image, "sh", "-c", agentScript))
	store := &openReads{}
	h := startTuned(t, s, rt, image, func(t *runs.Tuning) { t.FollowWriteTimeout = time.Second },
		fx.Decorate(func(o objects.Store) objects.Store { store.Store = o; return store }))
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: head -c 16777216 /dev/zero | tr '\0' x`})
	require.Equal(t, "succeeded", h.wait(t, u, r.ID, terminal).Status)

	conn := stuckFollower(t, h, u.Token, "") // dialled, nothing sent yet
	_, err := fmt.Fprintf(conn, "GET /v1/runs/%s/logs HTTP/1.1\r\nHost: slipway\r\nAuthorization: Bearer %s\r\n\r\n", r.ID, u.Token)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return store.open.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return store.open.Load() == 0 }, 30*time.Second, 10*time.Millisecond,
		"the server gives up on the stuck download and closes the store reader")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	n, err := io.Copy(io.Discard, conn)
	require.NoError(t, err, "the server closed the connection")
	require.Less(t, n, int64(16<<20), "before sending the whole log")
}
