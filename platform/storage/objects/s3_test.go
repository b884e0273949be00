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
	for _, p := range []string{"a", "b", "c"} {
		require.NoError(t, s.Append(ctx, "runs/1/log", []byte(p)))
	}
	require.Equal(t, []string{
		"runs/1/log/!chunks/00000000000000000001",
		"runs/1/log/!chunks/00000000000000000002",
		"runs/1/log/!chunks/00000000000000000003",
	}, listNames(t, fake, "runs/"))

	// A Put leaves one plain object; the next Append makes it chunk 1.
	require.NoError(t, s.Put(ctx, "runs/1/log", strings.NewReader("whole")))
	require.Equal(t, []string{"runs/1/log"}, listNames(t, fake, "runs/"))
	require.NoError(t, s.Append(ctx, "runs/1/log", []byte("+")))
	require.Equal(t, []string{
		"runs/1/log/!chunks/00000000000000000001",
		"runs/1/log/!chunks/00000000000000000002",
	}, listNames(t, fake, "runs/"))
	require.Equal(t, []byte("whole+"), objectstest.ReadAll(t, s, "runs/1/log"))
}

func TestS3LostResponseDoesNotDuplicateAppend(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	target, err := url.Parse(fake.URL)
	require.NoError(t, err)
	// A proxy that lets the second chunk reach S3 but loses S3's answer, so
	// the SDK retries a write that already happened.
	var chunkPuts atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "chunks") && chunkPuts.Add(1) == 2 {
			resp.StatusCode = http.StatusInternalServerError
			resp.Body = io.NopCloser(strings.NewReader(`<Error><Code>InternalError</Code><Message>lost</Message></Error>`))
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)

	cfg := s3Config(srv.URL)
	cfg.MaxBackoff = 10 * time.Millisecond
	s := openS3(t, cfg)
	for _, p := range []string{"one;", "two;", "three;"} {
		require.NoError(t, s.Append(ctx, "runs/3/log", []byte(p)))
	}
	require.Equal(t, int32(4), chunkPuts.Load(), "the lost write was retried once")
	require.Equal(t, []byte("one;two;three;"), objectstest.ReadAll(t, s, "runs/3/log"))
	require.Len(t, listNames(t, fake, "runs/3/log/"), 3)
}

func TestS3ChunksBeyondOneListPage(t *testing.T) {
	ctx := context.Background()
	fake := startFakeS3(t)
	s := openS3(t, s3Config(fake.URL))
	s.SetListPageSizeForTest(3)
	var want []byte
	for i := range 10 {
		p := []byte{byte('a' + i)}
		require.NoError(t, s.Append(ctx, "runs/2/log", p))
		want = append(want, p...)
	}
	require.Equal(t, want, objectstest.ReadAll(t, s, "runs/2/log"))

	// Resuming lists every page to find the highest chunk.
	again := openS3(t, s3Config(fake.URL))
	again.SetListPageSizeForTest(3)
	require.NoError(t, again.Append(ctx, "runs/2/log", []byte("k")))
	require.Equal(t, append(want, 'k'), objectstest.ReadAll(t, again, "runs/2/log"))
	require.Len(t, listNames(t, fake, "runs/2/log/"), 11)

	n, err := again.DeletePrefix(ctx, "runs/2")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, listNames(t, fake, ""))
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
		{"Append", func() error { return s.Append(ctx, "k", []byte("x")) }},
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
