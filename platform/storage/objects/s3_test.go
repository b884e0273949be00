package objects_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/objects/objectstest"
)

const testBucket = "slipway-test"

// fakeS3 is a real S3 protocol server on loopback, keeping objects in memory.
type fakeS3 struct {
	URL     string
	backend *s3mem.Backend
}

func startFakeS3(tb testing.TB) *fakeS3 {
	tb.Helper()
	backend := s3mem.New()
	require.NoError(tb, backend.CreateBucket(testBucket))
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	tb.Cleanup(srv.Close)
	return &fakeS3{URL: srv.URL, backend: backend}
}

func s3Config(endpoint string) objects.S3Config {
	return objects.S3Config{
		Bucket:          testBucket,
		Endpoint:        endpoint,
		AccessKeyID:     "test-key",
		SecretAccessKey: "test-secret",
	}
}

func openS3(tb testing.TB, cfg objects.S3Config) *objects.S3 {
	tb.Helper()
	s, err := objects.NewS3(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	return s
}

// newS3Backing gives each test its own server and bucket.
func newS3Backing(tb testing.TB) func() objects.Store {
	fake := startFakeS3(tb)
	return func() objects.Store { return openS3(tb, s3Config(fake.URL)) }
}

func TestS3Contract(t *testing.T) {
	objectstest.Run(t, newS3Backing)
}

func BenchmarkS3(b *testing.B) {
	objectstest.Bench(b, newS3Backing)
}

// listNames returns the raw object names in the bucket under prefix.
func listNames(t *testing.T, fake *fakeS3, prefix string) []string {
	t.Helper()
	list, err := fake.backend.ListBucket(testBucket, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	require.NoError(t, err)
	var names []string
	for _, o := range list.Contents {
		names = append(names, o.Key)
	}
	return names
}

func TestS3ChunkLayout(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	s := openS3(t, s3Config(fake.URL))
	a := &objectstest.Appender{S: s, Key: "runs/1/log"}
	for _, p := range []string{"a", "bc", "def"} {
		require.NoError(t, a.Append(ctx, []byte(p)))
	}
	require.Equal(t, []string{
		"runs/1/log/!chunks/00000000000000000001",
		"runs/1/log/!chunks/00000000000000000003",
		"runs/1/log/!chunks/00000000000000000006",
	}, listNames(t, fake, "runs/"), "chunks are named by where they end")

	// A Put leaves one plain object; the next append makes it the first chunk.
	require.NoError(t, s.Put(ctx, "runs/1/log", strings.NewReader("whole")))
	require.Equal(t, []string{"runs/1/log"}, listNames(t, fake, "runs/"))
	require.NoError(t, s.AppendAt(ctx, "runs/1/log", 5, []byte("+")))
	require.Equal(t, []string{
		"runs/1/log/!chunks/00000000000000000005",
		"runs/1/log/!chunks/00000000000000000006",
	}, listNames(t, fake, "runs/"))
	require.Equal(t, []byte("whole+"), objectstest.ReadAll(t, s, "runs/1/log"))
}

// loseAnswers is a proxy in front of S3 that passes every request on but,
// for chunk writes that lose(n) picks (n counts them from 1), replaces S3's
// answer with a 500: the write happened, the writer cannot know it.
func loseAnswers(t *testing.T, fake *fakeS3, lose func(n int32) bool) (endpoint string, chunkPuts *atomic.Int32) {
	t.Helper()
	target, err := url.Parse(fake.URL)
	require.NoError(t, err)
	chunkPuts = &atomic.Int32{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "chunks") && lose(chunkPuts.Add(1)) {
			resp.StatusCode = http.StatusInternalServerError
			resp.Body = io.NopCloser(strings.NewReader(`<Error><Code>InternalError</Code><Message>lost</Message></Error>`))
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL, chunkPuts
}

func TestS3LostResponseDoesNotDuplicateAppend(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	// The second chunk reaches S3 but S3's answer is lost, so the SDK
	// retries a write that already happened.
	endpoint, chunkPuts := loseAnswers(t, fake, func(n int32) bool { return n == 2 })
	cfg := s3Config(endpoint)
	cfg.MaxBackoff = 10 * time.Millisecond
	s := openS3(t, cfg)
	a := &objectstest.Appender{S: s, Key: "runs/3/log"}
	for _, p := range []string{"one;", "two;", "three;"} {
		require.NoError(t, a.Append(ctx, []byte(p)))
	}
	require.Equal(t, int32(4), chunkPuts.Load(), "the lost write was retried once")
	require.Equal(t, []byte("one;two;three;"), objectstest.ReadAll(t, s, "runs/3/log"))
	require.Len(t, listNames(t, fake, "runs/3/log/"), 3)
}

// TestS3AppendThatFailedAfterStoringIsRetriedOnce has every answer to the
// second chunk's writes lost, without SDK retries: AppendAt fails, though
// S3 stored the chunk, and the caller retries it, again and again, as a log
// writer does. The bytes are stored once.
func TestS3AppendThatFailedAfterStoringIsRetriedOnce(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	endpoint, chunkPuts := loseAnswers(t, fake, func(n int32) bool { return n >= 2 && n <= 4 })
	cfg := s3Config(endpoint)
	cfg.MaxAttempts = 1
	s := openS3(t, cfg)
	require.NoError(t, s.AppendAt(ctx, "runs/3/log", 0, []byte("one;")))
	for range 3 {
		err := s.AppendAt(ctx, "runs/3/log", 4, []byte("two;"))
		require.ErrorIs(t, err, derrors.ErrUnavailable, "the answer was lost")
	}
	require.NoError(t, s.AppendAt(ctx, "runs/3/log", 4, []byte("two;")), "the retry finds its chunk")
	require.NoError(t, s.AppendAt(ctx, "runs/3/log", 8, []byte("three;")))
	require.Equal(t, int32(6), chunkPuts.Load())
	require.Equal(t, []byte("one;two;three;"), objectstest.ReadAll(t, s, "runs/3/log"))
	require.Len(t, listNames(t, fake, "runs/3/log/"), 3)
}

func TestS3ChunksBeyondOneListPage(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	s := openS3(t, s3Config(fake.URL))
	s.SetListPageSizeForTest(3)
	var want []byte
	a := &objectstest.Appender{S: s, Key: "runs/2/log"}
	for i := range 10 {
		p := []byte{byte('a' + i)}
		require.NoError(t, a.Append(ctx, p))
		want = append(want, p...)
	}
	require.Equal(t, want, objectstest.ReadAll(t, s, "runs/2/log"))
	n, err := s.Size(ctx, "runs/2/log")
	require.NoError(t, err)
	require.Equal(t, int64(10), n, "the size lists every page")
	r, err := s.GetRange(ctx, "runs/2/log", 2, 6)
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, want[2:8], got, "a range across pages")

	again := openS3(t, s3Config(fake.URL))
	again.SetListPageSizeForTest(3)
	require.NoError(t, again.AppendAt(ctx, "runs/2/log", 10, []byte("k")))
	require.Equal(t, append(want, 'k'), objectstest.ReadAll(t, again, "runs/2/log"))
	require.Len(t, listNames(t, fake, "runs/2/log/"), 11)

	n2, err := again.DeletePrefix(ctx, "runs/2")
	require.NoError(t, err)
	require.Equal(t, 1, n2)
	require.Empty(t, listNames(t, fake, ""))
}

// TestS3RangedReadCostsTheRange counts the requests and bytes S3 serves for
// reads of a log of 500 chunks: a read from an offset near the end costs a
// few requests and the bytes after the offset, not the log before it.
func TestS3RangedReadCostsTheRange(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	var requests, served atomic.Int64
	inner := gofakes3.New(fake.backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		inner.ServeHTTP(countingWriter{w, &served}, r)
	}))
	t.Cleanup(srv.Close)
	s := openS3(t, s3Config(srv.URL))
	s.SetListPageSizeForTest(100)
	chunk := []byte(strings.Repeat("x", 1023) + "\n")
	a := &objectstest.Appender{S: s, Key: "runs/9/log"}
	for range 500 {
		require.NoError(t, a.Append(ctx, chunk))
	}
	tests := []struct {
		name     string
		off      int64
		want     int64
		requests int64
		lists    int64 // pages listed
	}{
		{"at a chunk boundary", 499 * 1024, 1024, 3, 1},   // GET (no plain object), LIST, GET
		{"inside a chunk", 498*1024 + 1000, 1048, 4, 1},   // and the next chunk
		{"at the end", 500 * 1024, 0, 2, 1},               // GET, LIST: nothing new
		{"past the end", 600 * 1024, 0, 3, 2},             // GET, LIST, LIST: the key exists
		{"from the start", 0, 500 * 1024, 1 + 5 + 500, 5}, // every page, every chunk
	}
	for _, tt := range tests {
		requests.Store(0)
		served.Store(0)
		r, err := s.GetRange(ctx, "runs/9/log", tt.off, -1)
		require.NoError(t, err, tt.name)
		n, err := io.Copy(io.Discard, r)
		require.NoError(t, err, tt.name)
		require.NoError(t, r.Close())
		require.Equal(t, tt.want, n, tt.name)
		require.Equal(t, tt.requests, requests.Load(), tt.name)
		require.Less(t, served.Load(), tt.want+tt.lists*32<<10, "%s: bytes served (listings included)", tt.name)
	}
}

// countingWriter counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func TestS3DeletePrefixManyObjects(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	s := openS3(t, s3Config(fake.URL))
	// More objects than one DeleteObjects batch, put straight into the
	// backend to keep the test fast.
	const count = 1234
	for i := range count {
		_, err := fake.backend.PutObject(testBucket, "many/"+strings.Repeat("x", i%7)+"-"+strconv.Itoa(i), nil, strings.NewReader("x"), 1, nil)
		require.NoError(t, err)
	}
	require.NoError(t, s.Put(ctx, "many-sibling", strings.NewReader("x")))
	n, err := s.DeletePrefix(ctx, "many/")
	require.NoError(t, err)
	require.Equal(t, count, n)
	require.Equal(t, []string{"many-sibling"}, listNames(t, fake, ""))
}

// TestS3SpillsLargeStreamsToDisk looks into the temporary directory while
// the fake S3 receives each upload: a body over the memory limit is being
// sent from a spool file of its whole size, a small one from memory, and no
// spool file outlives its Put.
func TestS3SpillsLargeStreamsToDisk(t *testing.T) {
	ctx := context.Background()
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool) // os.CreateTemp("") spools here
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(testBucket))
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	var mu sync.Mutex
	spooled := map[string][]int64{} // object key → sizes of the spool files seen during its upload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			key := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			files, err := filepath.Glob(filepath.Join(spool, "slipway-objects-put-*"))
			var sizes []int64
			for _, f := range files {
				if fi, serr := os.Stat(f); serr == nil {
					sizes = append(sizes, fi.Size())
				} else if err == nil {
					err = serr
				}
			}
			mu.Lock()
			spooled[key] = sizes
			if err != nil {
				spooled[key] = []int64{-1}
			}
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := openS3(t, s3Config(srv.URL))
	s.SetSpoolMemoryForTest(1024)

	body := strings.Repeat("0123456789", 1000)
	require.NoError(t, s.Put(ctx, "big", onlyReader{strings.NewReader(body)}))
	require.Equal(t, []byte(body), objectstest.ReadAll(t, s, "big"))
	small := strings.Repeat("x", 1000)
	require.NoError(t, s.Put(ctx, "small", onlyReader{strings.NewReader(small)}))
	require.Equal(t, []byte(small), objectstest.ReadAll(t, s, "small"))

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int64{int64(len(body))}, spooled["big"], "the large body is sent from one spool file")
	require.Contains(t, spooled, "small")
	require.Empty(t, spooled["small"], "a body within the memory limit is not spooled")
	left, err := os.ReadDir(spool)
	require.NoError(t, err)
	require.Empty(t, left, "spool files are removed after the Put")
}

func TestS3NewDoesNoIO(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	s := openS3(t, s3Config(srv.URL))
	require.NotNil(t, s)
	require.Zero(t, hits.Load())
}

// closedEndpoint returns the URL of a loopback port that nothing listens on.
func closedEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// requireAllUnavailable runs every operation against s and checks each fails
// as unavailable within limit.
func requireAllUnavailable(t *testing.T, s objects.Store, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	ops := []struct {
		name string
		run  func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Put", func() error { return s.Put(ctx, "k", strings.NewReader("x")) }},
		{"Get", func() error {
			r, err := s.Get(ctx, "k")
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"AppendAt", func() error { return s.AppendAt(ctx, "k", 0, []byte("x")) }},
		{"GetRange", func() error {
			r, err := s.GetRange(ctx, "k", 1, 1)
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"Size", func() error { _, err := s.Size(ctx, "k"); return err }},
		{"DeletePrefix", func() error { _, err := s.DeletePrefix(ctx, "k"); return err }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.run()
		require.ErrorIs(t, err, derrors.ErrUnavailable, "%s: %v", op.name, err)
		var ue *derrors.UnavailableError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, "s3", ue.Service)
		require.Less(t, time.Since(start), limit, op.name)
	}
}

func TestS3ClosedPortIsUnavailable(t *testing.T) {
	// Default timeouts and retries: a refused connection must fail fast.
	s := openS3(t, s3Config(closedEndpoint(t)))
	requireAllUnavailable(t, s, 5*time.Second)
}

func TestS3ServerErrorIsUnavailable(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>down for maintenance</Message></Error>`))
	}))
	t.Cleanup(srv.Close)
	cfg := s3Config(srv.URL)
	cfg.MaxAttempts = 2
	cfg.MaxBackoff = 10 * time.Millisecond
	s := openS3(t, cfg)
	require.ErrorIs(t, s.Ping(context.Background()), derrors.ErrUnavailable)
	require.Equal(t, int32(2), hits.Load(), "a 503 is retried MaxAttempts times")
	requireAllUnavailable(t, s, 5*time.Second)
}

func TestS3PlainServerErrorIsUnavailable(t *testing.T) {
	// A proxy in front of S3 answering 502 without an S3 error body.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	cfg := s3Config(srv.URL)
	cfg.MaxAttempts = 1
	requireAllUnavailable(t, openS3(t, cfg), 5*time.Second)
}

func TestS3SilentServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := s3Config(srv.URL)
	cfg.ResponseTimeout = 100 * time.Millisecond
	cfg.MaxAttempts = 2
	cfg.MaxBackoff = 10 * time.Millisecond
	requireAllUnavailable(t, openS3(t, cfg), 3*time.Second)
}

func TestS3MissingBucketIsUnavailable(t *testing.T) {
	fake := startFakeS3(t)
	cfg := s3Config(fake.URL)
	cfg.Bucket = "no-such-bucket"
	requireAllUnavailable(t, openS3(t, cfg), 5*time.Second)
}

func TestS3AccessDeniedIsNotUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
	}))
	t.Cleanup(srv.Close)
	s := openS3(t, s3Config(srv.URL))
	_, err := s.Get(context.Background(), "k")
	require.ErrorContains(t, err, "AccessDenied")
	require.NotErrorIs(t, err, derrors.ErrUnavailable)
	require.NotErrorIs(t, err, derrors.ErrNotFound)
}

func TestS3CallerDeadlineIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	s := openS3(t, s3Config(srv.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Get(ctx, "k")
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.Less(t, time.Since(start), 3*time.Second)
}

type onlyReader struct{ r *strings.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
