// Package objectstest is the contract every objects.Store must meet, written
// once and run on each backend, plus benchmarks shared the same way.
package objectstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// NewBacking makes a fresh, empty backing (a folder, a bucket) for one test
// and returns open, which returns a new Store on that backing each time it is
// called: a second call is what a process restart looks like. Stores that
// open returns are closed by the caller's cleanup.
type NewBacking func(tb testing.TB) (open func() objects.Store)

// Run runs the contract on the backend that newBacking makes.
func Run(t *testing.T, newBacking NewBacking) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() objects.Store)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"PutFailedBodyKeepsOld", testPutFailedBodyKeepsOld},
		{"NotFound", testNotFound},
		{"AppendOrder", testAppendOrder},
		{"AppendEmpty", testAppendEmpty},
		{"AppendRetryStoresOnce", testAppendRetryStoresOnce},
		{"AppendRefusesGapsAndOtherBytes", testAppendRefusesGapsAndOtherBytes},
		{"ReadWhileAppending", testReadWhileAppending},
		{"AppendResumeAfterRestart", testAppendResumeAfterRestart},
		{"PutThenAppend", testPutThenAppend},
		{"AppendThenPut", testAppendThenPut},
		{"LargeObject", testLargeObject},
		{"LargeAppended", testLargeAppended},
		{"GetRange", testGetRange},
		{"Size", testSize},
		{"DeletePrefix", testDeletePrefix},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentAppendsDifferentKeys", testConcurrentAppendsDifferentKeys},
		{"RacingWritersSameOffset", testRacingWritersSameOffset},
		{"CanceledContext", testCanceledContext},
		{"Ping", testPing},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newBacking(t))
		})
	}
}

// ReadAll reads the whole object under key.
func ReadAll(tb testing.TB, s objects.Store, key string) []byte {
	tb.Helper()
	r, err := s.Get(context.Background(), key)
	require.NoError(tb, err, "get %s", key)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(tb, err, "read %s", key)
	return b
}

// RequireNotFound checks that key holds nothing.
func RequireNotFound(tb testing.TB, s objects.Store, key string) {
	tb.Helper()
	r, err := s.Get(context.Background(), key)
	if err == nil {
		r.Close()
	}
	require.ErrorIs(tb, err, derrors.ErrNotFound, "get %s", key)
}

// Appender appends to one key at the offsets a log writer would name,
// starting at Off.
type Appender struct {
	S   objects.Store
	Key string
	Off int64
}

// Append stores p after what was appended so far.
func (a *Appender) Append(ctx context.Context, p []byte) error {
	if err := a.S.AppendAt(ctx, a.Key, a.Off, p); err != nil {
		return err
	}
	a.Off += int64(len(p))
	return nil
}

func testPutGet(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	tests := []struct {
		name string
		key  string
		body []byte
	}{
		{"empty", "patches/empty.diff", []byte{}},
		{"text", "patches/one.diff", []byte("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n")},
		{"binary", "bin/all-bytes", allBytes()},
		{"deep", "a/b/c/d/e/f/g.h", []byte("deep")},
		{"odd names", "A-Z_0.9/..../-_.", []byte("odd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, s.Put(ctx, tt.key, bytes.NewReader(tt.body)))
			require.Equal(t, tt.body, ReadAll(t, s, tt.key))
		})
	}
	// A reader that cannot seek goes through a different path on some backends.
	require.NoError(t, s.Put(ctx, "stream/plain", onlyReader{strings.NewReader("streamed")}))
	require.Equal(t, []byte("streamed"), ReadAll(t, s, "stream/plain"))
}

func testOverwrite(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "p/x", strings.NewReader("first version, longer")))
	require.NoError(t, s.Put(ctx, "p/x", strings.NewReader("second")))
	require.Equal(t, []byte("second"), ReadAll(t, s, "p/x"))
}

func testPutFailedBodyKeepsOld(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "p/x", strings.NewReader("old")))
	boom := errors.New("boom")
	err := s.Put(ctx, "p/x", io.MultiReader(strings.NewReader("half of the new"), errReader{boom}))
	require.ErrorIs(t, err, boom)
	require.Equal(t, []byte("old"), ReadAll(t, s, "p/x"))

	err = s.Put(ctx, "p/never", io.MultiReader(strings.NewReader("half"), errReader{boom}))
	require.ErrorIs(t, err, boom)
	RequireNotFound(t, s, "p/never")
}

func testNotFound(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	RequireNotFound(t, s, "missing")
	RequireNotFound(t, s, "missing/deeper/key")
	require.NoError(t, s.Put(ctx, "dir/file", strings.NewReader("x")))
	RequireNotFound(t, s, "dir")             // a prefix is not an object
	RequireNotFound(t, s, "dir/file/deeper") // nor is a path through an object
	RequireNotFound(t, s, "dir/fil")
}

func testAppendOrder(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	var want []byte
	a := &Appender{S: s, Key: "runs/1/log"}
	for i := range 25 {
		line := fmt.Appendf(nil, "line %02d\n", i)
		require.NoError(t, a.Append(ctx, line))
		want = append(want, line...)
	}
	require.Equal(t, want, ReadAll(t, s, "runs/1/log"))
}

func testAppendEmpty(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.AppendAt(ctx, "runs/1/log", 0, nil))
	require.NoError(t, s.AppendAt(ctx, "runs/1/log", 0, []byte{}))
	RequireNotFound(t, s, "runs/1/log")
	require.NoError(t, s.AppendAt(ctx, "runs/1/log", 0, []byte("a")))
	require.NoError(t, s.AppendAt(ctx, "runs/1/log", 1, nil))
	require.Equal(t, []byte("a"), ReadAll(t, s, "runs/1/log"))
}

// testAppendRetryStoresOnce retries appends whose first attempt landed, as
// a writer does when an append fails after the store kept its bytes (a
// lost answer, a timeout): the bytes are stored once.
func testAppendRetryStoresOnce(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const key = "runs/4/log"
	require.NoError(t, s.AppendAt(ctx, key, 0, []byte("one;")))
	require.NoError(t, s.AppendAt(ctx, key, 0, []byte("one;")), "a retry of a landed append")
	require.NoError(t, s.AppendAt(ctx, key, 4, []byte("two;")))
	require.NoError(t, s.AppendAt(ctx, key, 4, []byte("two;")))
	require.NoError(t, s.AppendAt(ctx, key, 4, []byte("two;")))
	require.NoError(t, s.AppendAt(ctx, key, 8, []byte("three;")))
	require.Equal(t, []byte("one;two;three;"), ReadAll(t, s, key))
	// So does a retry from another process (a new store on the backing).
	again := open()
	require.NoError(t, again.AppendAt(ctx, key, 8, []byte("three;")))
	require.NoError(t, again.AppendAt(ctx, key, 14, []byte("four;")))
	require.Equal(t, []byte("one;two;three;four;"), ReadAll(t, s, key))
}

func testAppendRefusesGapsAndOtherBytes(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const key = "runs/5/log"
	require.ErrorIs(t, s.AppendAt(ctx, key, 3, []byte("x")), derrors.ErrConflict, "a gap before the first byte")
	RequireNotFound(t, s, key)
	require.NoError(t, s.AppendAt(ctx, key, 0, []byte("abc")))
	require.ErrorIs(t, s.AppendAt(ctx, key, 4, []byte("x")), derrors.ErrConflict, "a gap after the end")
	require.ErrorIs(t, s.AppendAt(ctx, key, 0, []byte("xyz")), derrors.ErrConflict, "other bytes at a stored offset")
	require.Error(t, s.AppendAt(ctx, key, -1, []byte("x")))
	require.Equal(t, []byte("abc"), ReadAll(t, s, key), "refused appends change nothing")
	require.NoError(t, s.AppendAt(ctx, key, 3, []byte("d")))
	require.Equal(t, []byte("abcd"), ReadAll(t, s, key))
}

func testReadWhileAppending(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const key = "runs/7/log"
	const records = 40
	var want []byte
	for i := range records {
		want = fmt.Appendf(want, "record %03d\n", i)
	}

	// A reader opened after the first append returns a prefix of the final
	// stream that holds at least that append.
	a := &Appender{S: s, Key: key}
	require.NoError(t, a.Append(ctx, want[:11]))
	early, err := s.Get(ctx, key)
	require.NoError(t, err)
	t.Cleanup(func() { early.Close() })

	done := make(chan error, 1)
	go func() {
		for i := 1; i < records; i++ {
			if err := a.Append(ctx, want[i*11:(i+1)*11]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	// Readers during the appends each see a prefix of the final stream, and
	// none sees less than a reader before it.
	seen := 0
	finished := false
	for !finished {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished = true
		default:
		}
		got := ReadAll(t, s, key)
		require.GreaterOrEqual(t, len(got), seen, "a later read returned less")
		require.Equal(t, want[:len(got)], got, "a read is not a prefix of the appended stream")
		seen = len(got)
	}
	require.Equal(t, want, ReadAll(t, s, key))

	got, err := io.ReadAll(early)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(got), 11)
	require.Equal(t, want[:len(got)], got)
}

func testAppendResumeAfterRestart(t *testing.T, open func() objects.Store) {
	ctx := context.Background()
	const key = "runs/9/log"
	first := open()
	require.NoError(t, first.AppendAt(ctx, key, 0, []byte("a")))
	require.NoError(t, first.AppendAt(ctx, key, 1, []byte("b")))

	// The writer's process restarts: a new store on the same backing.
	second := open()
	require.Equal(t, []byte("ab"), ReadAll(t, second, key))
	size, err := second.Size(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(2), size)
	require.NoError(t, second.AppendAt(ctx, key, 2, []byte("c")))
	require.NoError(t, second.AppendAt(ctx, key, 3, []byte("d")))
	require.Equal(t, []byte("abcd"), ReadAll(t, second, key))
	require.Equal(t, []byte("abcd"), ReadAll(t, first, key))

	// The old instance, still alive with its stale view, must not overwrite
	// what the new one wrote, and may continue after it.
	require.ErrorIs(t, first.AppendAt(ctx, key, 2, []byte("X")), derrors.ErrConflict)
	require.NoError(t, first.AppendAt(ctx, key, 4, []byte("e")))
	require.NoError(t, second.AppendAt(ctx, key, 5, []byte("f")))
	require.Equal(t, []byte("abcdef"), ReadAll(t, open(), key))
}

func testPutThenAppend(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "k/v", strings.NewReader("whole;")))
	require.NoError(t, s.AppendAt(ctx, "k/v", 6, []byte("one;")))
	require.NoError(t, s.AppendAt(ctx, "k/v", 10, []byte("two;")))
	require.NoError(t, s.AppendAt(ctx, "k/v", 10, []byte("two;")), "a retry")
	require.ErrorIs(t, s.AppendAt(ctx, "k/v", 0, []byte("WHOLE;")), derrors.ErrConflict)
	require.Equal(t, []byte("whole;one;two;"), ReadAll(t, s, "k/v"))
	require.Equal(t, []byte("whole;one;two;"), ReadAll(t, open(), "k/v"))
}

func testAppendThenPut(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.AppendAt(ctx, "k/v", 0, []byte("one;")))
	require.NoError(t, s.AppendAt(ctx, "k/v", 4, []byte("two;")))
	require.NoError(t, s.Put(ctx, "k/v", strings.NewReader("replaced;")))
	require.Equal(t, []byte("replaced;"), ReadAll(t, s, "k/v"))
	require.NoError(t, s.AppendAt(ctx, "k/v", 9, []byte("three;")))
	require.Equal(t, []byte("replaced;three;"), ReadAll(t, s, "k/v"))

	// A fresh instance sees the same, and continues it.
	again := open()
	require.Equal(t, []byte("replaced;three;"), ReadAll(t, again, "k/v"))
	require.NoError(t, again.AppendAt(ctx, "k/v", 15, []byte("four;")))
	require.Equal(t, []byte("replaced;three;four;"), ReadAll(t, s, "k/v"))
}

func testLargeObject(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const size = 5<<20 + 123
	want := randomBytes(size, 1)
	// Through a reader that cannot seek, so no backend can take its length.
	require.NoError(t, s.Put(ctx, "big/blob", onlyReader{bytes.NewReader(want)}))
	requireStreamEqual(t, s, "big/blob", want)
}

func testLargeAppended(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	want := randomBytes(4<<20+7, 2)
	for off := 0; off < len(want); off += 1 << 20 {
		require.NoError(t, s.AppendAt(ctx, "big/log", int64(off), want[off:min(off+1<<20, len(want))]))
	}
	requireStreamEqual(t, s, "big/log", want)
	// One append larger than any backend's piece.
	huge := randomBytes(17<<20+3, 3)
	require.NoError(t, s.AppendAt(ctx, "big/huge", 0, huge))
	require.NoError(t, s.AppendAt(ctx, "big/huge", 0, huge), "a retry")
	requireStreamEqual(t, s, "big/huge", huge)
	requireRangeEqual(t, s, "big/huge", huge[9<<20+5:10<<20+5], 9<<20+5, 1<<20)
}

// testGetRange reads parts of appended and whole objects: each read is the
// part asked for, cut at the end, and empty from the end on.
func testGetRange(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	data := []byte("0123456789abcdefghij")
	a := &Appender{S: s, Key: "runs/1/log"}
	for _, part := range [][]byte{data[:3], data[3:4], data[4:11], data[11:]} {
		require.NoError(t, a.Append(ctx, part))
	}
	require.NoError(t, s.Put(ctx, "runs/1/patch", bytes.NewReader(data)))
	require.NoError(t, s.Put(ctx, "runs/1/empty", bytes.NewReader(nil)))
	for _, key := range []string{"runs/1/log", "runs/1/patch"} {
		for _, tt := range []struct{ off, n int64 }{
			{0, -1}, {0, 20}, {0, 1}, {2, 3}, {3, 1}, {3, 8}, {10, -1}, {11, 9}, {19, -1},
			{5, 100}, {20, -1}, {20, 5}, {25, -1}, {7, 0},
		} {
			want := data[min(tt.off, 20):]
			if tt.n >= 0 {
				want = want[:min(int64(len(want)), tt.n)]
			}
			requireRangeEqual(t, s, key, want, tt.off, tt.n)
		}
	}
	requireRangeEqual(t, s, "runs/1/empty", nil, 0, -1)
	requireRangeEqual(t, s, "runs/1/empty", nil, 3, 2)
	_, err := s.GetRange(ctx, "runs/2/log", 0, -1)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = s.GetRange(ctx, "runs/2/log", 5, 1)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = s.GetRange(ctx, "runs/1/log", -1, 1)
	require.Error(t, err)
}

func testSize(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	_, err := s.Size(ctx, "runs/1/log")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	a := &Appender{S: s, Key: "runs/1/log"}
	for i := range 5 {
		require.NoError(t, a.Append(ctx, bytes.Repeat([]byte{'x'}, i+1)))
		n, err := s.Size(ctx, "runs/1/log")
		require.NoError(t, err)
		require.Equal(t, a.Off, n)
	}
	require.NoError(t, s.Put(ctx, "runs/1/patch", strings.NewReader("patch")))
	n, err := s.Size(ctx, "runs/1/patch")
	require.NoError(t, err)
	require.Equal(t, int64(5), n)
	require.NoError(t, s.Put(ctx, "runs/1/empty", strings.NewReader("")))
	n, err = s.Size(ctx, "runs/1/empty")
	require.NoError(t, err)
	require.Zero(t, n)
}

// requireRangeEqual reads n bytes of key from off and compares them.
func requireRangeEqual(t *testing.T, s objects.Store, key string, want []byte, off, n int64) {
	t.Helper()
	r, err := s.GetRange(context.Background(), key, off, n)
	require.NoError(t, err, "%s from %d, %d bytes", key, off, n)
	defer r.Close()
	got, err := io.ReadAll(r)
	require.NoError(t, err, "%s from %d, %d bytes", key, off, n)
	require.True(t, bytes.Equal(want, got), "%s from %d, %d bytes: got %d bytes, want %d", key, off, n, len(got), len(want))
}

// requireStreamEqual compares an object with want through a small buffer, the
// way a streaming consumer reads it.
func requireStreamEqual(t *testing.T, s objects.Store, key string, want []byte) {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), n)
	wantSum := sha256.Sum256(want)
	require.Equal(t, wantSum[:], h.Sum(nil))
}

func testDeletePrefix(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	put := func(key string) { require.NoError(t, s.Put(ctx, key, strings.NewReader(key))) }
	put("proj/1/patch")
	put("proj/1/sub/deeper/x")
	a := &Appender{S: s, Key: "proj/1/log"}
	for _, line := range []string{"a\n", "b\n", "c\n"} {
		require.NoError(t, a.Append(ctx, []byte(line)))
	}
	put("proj/10/patch") // a sibling whose name starts the same
	put("proj/1.txt")    // another
	put("proj/2/patch")
	put("other/1/patch")

	tests := []struct {
		prefix string
		want   int
		gone   []string
		kept   []string
	}{
		{"proj/1", 3, []string{"proj/1/patch", "proj/1/sub/deeper/x", "proj/1/log"},
			[]string{"proj/10/patch", "proj/1.txt", "proj/2/patch", "other/1/patch"}},
		{"proj/1", 0, nil, []string{"proj/10/patch", "proj/1.txt"}},
		{"proj/10/", 1, []string{"proj/10/patch"}, []string{"proj/1.txt", "proj/2/patch"}},
		{"proj/1.txt", 1, []string{"proj/1.txt"}, []string{"proj/2/patch"}},
		{"nothing/here", 0, nil, []string{"proj/2/patch", "other/1/patch"}},
		{"proj", 1, []string{"proj/2/patch"}, []string{"other/1/patch"}},
	}
	for _, tt := range tests {
		n, err := s.DeletePrefix(ctx, tt.prefix)
		require.NoError(t, err, "delete %s", tt.prefix)
		require.Equal(t, tt.want, n, "count for %s", tt.prefix)
		for _, k := range tt.gone {
			RequireNotFound(t, s, k)
		}
		for _, k := range tt.kept {
			require.Equal(t, []byte(k), ReadAll(t, s, k), "sibling %s after deleting %s", k, tt.prefix)
		}
	}

	// A deleted log starts afresh, in this instance and in a new one.
	require.NoError(t, s.AppendAt(ctx, "proj/1/log", 0, []byte("new\n")))
	require.Equal(t, []byte("new\n"), ReadAll(t, s, "proj/1/log"))
	require.Equal(t, []byte("new\n"), ReadAll(t, open(), "proj/1/log"))
}

func testInvalidKeys(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	bad := []string{
		"", "/", "/abs", "trailing/", "a//b", ".", "..", "a/./b", "a/../b", "../escape",
		"sp ace", "back\\slash", "tab\t", "new\nline", "uni/ç", "null\x00", "star*", "tilde~", "bang!", "a/!chunks/1",
		"colon:", "q?", "hash#", "pct%2e", strings.Repeat("s", objects.MaxSegmentLen+1),
		strings.Repeat("k/", objects.MaxKeyLen/2) + "k",
	}
	for _, key := range bad {
		t.Run(fmt.Sprintf("%.20q", key), func(t *testing.T) {
			require.ErrorIs(t, s.Put(ctx, key, strings.NewReader("x")), objects.ErrInvalidKey)
			_, err := s.Get(ctx, key)
			require.ErrorIs(t, err, objects.ErrInvalidKey)
			require.ErrorIs(t, s.AppendAt(ctx, key, 0, []byte("x")), objects.ErrInvalidKey)
			_, err = s.GetRange(ctx, key, 0, -1)
			require.ErrorIs(t, err, objects.ErrInvalidKey)
			_, err = s.Size(ctx, key)
			require.ErrorIs(t, err, objects.ErrInvalidKey)
			if key != "trailing/" { // a prefix may end in one slash
				_, err = s.DeletePrefix(ctx, key)
				require.ErrorIs(t, err, objects.ErrInvalidKey)
			}
		})
	}
	for _, p := range []string{"", "/", "a//", "a/b//"} {
		_, err := s.DeletePrefix(ctx, p)
		require.ErrorIs(t, err, objects.ErrInvalidKey, "prefix %q", p)
	}
	// The longest valid key works.
	long := strings.Repeat("k", objects.MaxSegmentLen) + "/" + strings.Repeat("v", objects.MaxSegmentLen-1) + "/z"
	require.Len(t, long, objects.MaxKeyLen)
	require.NoError(t, s.Put(ctx, long, strings.NewReader("long")))
	require.Equal(t, []byte("long"), ReadAll(t, s, long))
}

func testConcurrentAppendsDifferentKeys(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const writers, lines = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			a := &Appender{S: s, Key: fmt.Sprintf("runs/%d/log", w)}
			for i := range lines {
				if err := a.Append(ctx, fmt.Appendf(nil, "w%d l%02d\n", w, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for w := range writers {
		var want []byte
		for i := range lines {
			want = fmt.Appendf(want, "w%d l%02d\n", w, i)
		}
		require.Equal(t, want, ReadAll(t, s, fmt.Sprintf("runs/%d/log", w)))
	}
}

// testRacingWritersSameOffset has writers append different bytes at the
// same offsets at once: at each offset one wins whole, the others are
// refused, and no byte of a loser is stored.
func testRacingWritersSameOffset(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	const writers, records = 4, 10
	const recLen = 8 // "w1 r07;\n"
	var want []byte
	for i := range records {
		var mu sync.Mutex
		var won []byte
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rec := fmt.Appendf(nil, "w%d r%02d;\n", w, i)
				err := s.AppendAt(ctx, "shared/log", int64(i*recLen), rec)
				if err == nil {
					mu.Lock()
					defer mu.Unlock()
					if won != nil && !bytes.Equal(won, rec) {
						t.Errorf("record %d: both %q and %q were accepted", i, won, rec)
					}
					won = rec
					return
				}
				if !errors.Is(err, derrors.ErrConflict) {
					t.Errorf("record %d, writer %d: %v", i, w, err)
				}
			})
		}
		wg.Wait()
		require.NotNil(t, won, "record %d: one writer wins", i)
		want = append(want, won...)
	}
	require.Equal(t, want, ReadAll(t, s, "shared/log"))
}

func testCanceledContext(t *testing.T, open func() objects.Store) {
	s := open()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Put(ctx, "c/x", strings.NewReader("x")), context.Canceled)
	require.ErrorIs(t, s.AppendAt(ctx, "c/y", 0, []byte("y")), context.Canceled)
	_, err := s.Size(ctx, "c/x")
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Get(ctx, "c/x")
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.DeletePrefix(ctx, "c")
	require.ErrorIs(t, err, context.Canceled)
	RequireNotFound(t, s, "c/x")
	RequireNotFound(t, s, "c/y")
}

func testPing(t *testing.T, open func() objects.Store) {
	s := open()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Ping(ctx))
}

func testClosed(t *testing.T, open func() objects.Store) {
	s := open()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "k", strings.NewReader("x")))
	require.NoError(t, s.Close())
	require.Error(t, s.Put(ctx, "k", strings.NewReader("y")))
	require.Error(t, s.AppendAt(ctx, "k", 0, []byte("y")))
	_, err := s.Get(ctx, "k")
	require.Error(t, err)
	require.NoError(t, s.Close(), "Close twice")
	require.Equal(t, []byte("x"), ReadAll(t, open(), "k"), "a closed store changed the object")
}

// Bench runs the shared benchmarks on the backend that newBacking makes:
// appending 4 KiB chunks, reading a 1 MiB object stored whole, and reading a
// 1 MiB object stored as 256 appends of 4 KiB.
func Bench(b *testing.B, newBacking NewBacking) {
	b.Run("Append4KiB", func(b *testing.B) {
		s := newBacking(b)()
		ctx := context.Background()
		chunk := randomBytes(4<<10, 3)
		b.SetBytes(int64(len(chunk)))
		for i := 0; b.Loop(); i++ {
			// A new key now and then keeps each log a realistic length.
			if err := s.AppendAt(ctx, fmt.Sprintf("bench/%d/log", i/1000), int64(i%1000*len(chunk)), chunk); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get1MiB", func(b *testing.B) {
		s := newBacking(b)()
		blob := randomBytes(1<<20, 4)
		if err := s.Put(context.Background(), "bench/blob", bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
		benchGet(b, s, "bench/blob", len(blob))
	})
	b.Run("GetAppended1MiB", func(b *testing.B) {
		s := newBacking(b)()
		blob := randomBytes(1<<20, 5)
		for off := 0; off < len(blob); off += 4 << 10 {
			if err := s.AppendAt(context.Background(), "bench/log", int64(off), blob[off:off+4<<10]); err != nil {
				b.Fatal(err)
			}
		}
		benchGet(b, s, "bench/log", len(blob))
	})
}

func benchGet(b *testing.B, s objects.Store, key string, size int) {
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(size))
	for b.Loop() {
		r, err := s.Get(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, r, buf)
		r.Close()
		if err != nil || n != int64(size) {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// onlyReader hides every method but Read, as a network body would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
