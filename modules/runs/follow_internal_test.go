package runs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/objects/objectstest"
)

// The follower tests run in a synctest bubble: time is fake, so the
// keep-alive and poll intervals pass at once, and synctest.Wait says when
// the follower has done all it can. No Docker, no container: a logWriter
// plays the container's output.

const followedRun = "run_followed"

// records is the part of a Store a follower reads: one run's record.
type records struct {
	Store // nil: a follower only calls Get

	mu  sync.Mutex
	run Run
}

func (r *records) Get(_ context.Context, id string) (*Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != r.run.ID {
		return nil, derrors.NotFound("run", id)
	}
	run := r.run
	return &run, nil
}

// end records the run's final status, as Worker.finish does.
func (r *records) end(status Status, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Status, r.run.ExitCode = status, &code
}

// client is the client's end of a stream: what the follower wrote to it.
type client struct {
	gate chan struct{} // when set, writes wait until it is closed: a client not reading
	fail error         // when set, writes fail: a client gone

	mu   sync.Mutex
	buf  bytes.Buffer
	seen int
}

func (c *client) Write(p []byte) (int, error) {
	if c.gate != nil {
		<-c.gate
	}
	if c.fail != nil {
		return 0, c.fail
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// fresh returns what the client received since the last call.
func (c *client) fresh() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.buf.String()[c.seen:]
	c.seen = c.buf.Len()
	return s
}

// fixture is a Service whose Worker works one run, without Docker.
type fixture struct {
	svc     *Service
	worker  *Worker
	records *records
	objects objects.Store
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	objs, err := objects.NewLocal(t.TempDir())
	require.NoError(t, err)
	f := &fixture{worker: &Worker{hub: newLogHub()}, objects: objs,
		records: &records{run: Run{ID: followedRun, Status: StatusRunning}}}
	f.svc = &Service{store: f.records, objects: objs, worker: f.worker, tuning: DefaultTuning(), log: zap.NewNop(),
		follows: newFollowLimits(10, 10)}
	return f
}

// testLimits never flush by themselves (tests call flush) and never cut
// or wait.
var testLimits = logLimits{every: time.Hour, batch: 1 << 30, maxPending: 1 << 30, maxBytes: 1 << 40, failAfter: time.Hour}

// live starts the run's log writer on the Worker, as work's pumpLog does.
func (f *fixture) live() *logWriter {
	lw := newLogWriter(followedRun, f.objects, zap.NewNop(), testLimits)
	f.worker.hub.add(lw)
	return lw
}

// follow streams the run to c from offset from until ctx ends; the
// follower's result arrives on the channel.
func (f *fixture) follow(ctx context.Context, c *client, from int64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.svc.follow(ctx, followedRun, from, bufio.NewWriter(c)) }()
	return done
}

// ended returns the follower's result once it has nothing left to do; it
// fails the test when the follower is still streaming.
func ended(t *testing.T, done <-chan error) error {
	t.Helper()
	synctest.Wait()
	select {
	case err := <-done:
		return err
	default:
		t.Fatal("the stream has not ended")
		return nil
	}
}

func write(t *testing.T, lw *logWriter, s string) {
	t.Helper()
	n, err := lw.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func TestFollowLiveRunToItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		write(t, lw, "start\n") // not stored yet: the follower reads the writer's memory
		c := &client{}
		done := f.follow(t.Context(), c, 0)
		synctest.Wait()
		require.Equal(t, "data: start\nid: 6\n\n", c.fresh())
		require.Equal(t, 1, f.svc.Followers())

		write(t, lw, "one\ntwo\n")
		synctest.Wait()
		require.Equal(t, "data: one\ndata: two\nid: 14\n\n", c.fresh(), "each chunk at once, before any flush")

		time.Sleep(f.svc.tuning.KeepAlive)
		synctest.Wait()
		require.Equal(t, ": keep-alive\n\n", c.fresh(), "an idle stream sends comments")

		// The run ends as the worker ends it: the rest stored, the writer
		// closed, and only then the final status.
		write(t, lw, "last")
		lw.flush(t.Context())
		lw.close()
		f.worker.hub.remove(followedRun)
		synctest.Wait()
		require.Equal(t, "", c.fresh(), "no end before the status is final")
		f.records.end(StatusSucceeded, 0)
		time.Sleep(f.svc.tuning.Poll)
		synctest.Wait()
		require.Equal(t, "data: last\nid: 18\n\n"+
			"event: end\ndata: {\"status\":\"succeeded\",\"exit_code\":0,\"error\":null,\"log_truncated\":false}\n\n", c.fresh())
		require.NoError(t, ended(t, done))
		require.Equal(t, 0, f.svc.Followers())
	})
}

// TestFollowSlowClient has a client that stops reading: the writer never
// waits for it nor keeps anything for it, and the follower, once the
// client reads again, catches up from the store and the writer's memory
// without losing or repeating a byte.
func TestFollowSlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		c := &client{gate: make(chan struct{})}
		ctx, stop := context.WithCancel(t.Context())
		done := f.follow(ctx, c, 0)
		synctest.Wait() // the follower is stuck writing the headers

		var want []string
		for i := range 3000 {
			line := fmt.Sprintf("line %d", i)
			write(t, lw, line+"\n") // returns at once: nothing waits for the client
			want = append(want, line)
			if i == 2000 {
				lw.flush(t.Context()) // the start is in the store, the rest in memory
			}
		}
		close(c.gate)
		synctest.Wait()
		data, lastID := parseStream(t, c.fresh())
		require.Equal(t, want, data)
		require.Equal(t, lw.total, lastID, "the last id is the end of the log")

		write(t, lw, "tail\n")
		synctest.Wait()
		data, _ = parseStream(t, c.fresh())
		require.Equal(t, []string{"tail"}, data, "caught up, it follows live again")
		stop()
		require.ErrorIs(t, ended(t, done), context.Canceled)
	})
}

// duringRead is an object store whose first GetRange by a follower runs
// hook first: a flush landing, more output arriving, while it reads.
type duringRead struct {
	objects.Store
	hook func()

	once sync.Once
}

func (s *duringRead) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.once.Do(s.hook)
	return s.Store.GetRange(ctx, key, off, n)
}

// TestFollowSendsEveryByteOnce has the writer flush and take more output
// while the follower reads the store: what the store and the writer's
// memory both hold is sent once, and nothing between them is skipped.
func TestFollowSendsEveryByteOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		write(t, lw, "a\n")
		lw.flush(t.Context()) // stored: the follower reads it from the store
		write(t, lw, "b\n")   // in memory
		f.svc.objects = &duringRead{Store: f.objects, hook: func() {
			write(t, lw, "c\n")
			lw.flush(t.Context()) // b and c move to the store meanwhile
			write(t, lw, "d\n")
		}}
		c := &client{}
		ctx, stop := context.WithCancel(t.Context())
		done := f.follow(ctx, c, 0)
		synctest.Wait()
		write(t, lw, "e\n")
		synctest.Wait()
		data, lastID := parseStream(t, c.fresh())
		require.Equal(t, []string{"a", "b", "c", "d", "e"}, data)
		require.Equal(t, int64(10), lastID)
		stop()
		require.ErrorIs(t, ended(t, done), context.Canceled)
	})
}

// counting is an object store that counts the log bytes followers read.
type counting struct {
	objects.Store

	mu    sync.Mutex
	reads []int64 // offset of each GetRange
	bytes int64
}

func (s *counting) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := s.Store.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.reads = append(s.reads, off)
	s.mu.Unlock()
	return &countedReader{ReadCloser: rc, s: s}, nil
}

func (s *counting) Get(context.Context, string) (io.ReadCloser, error) {
	panic("a follower reads ranges, never a whole log")
}

func (s *counting) take() (reads []int64, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reads, bytes = s.reads, s.bytes
	s.reads, s.bytes = nil, 0
	return reads, bytes
}

type countedReader struct {
	io.ReadCloser
	s *counting
}

func (r *countedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.s.mu.Lock()
	r.s.bytes += int64(n)
	r.s.mu.Unlock()
	return n, err
}

// TestFollowElsewhereReadsOnlyNewBytes follows a run another instance
// works, so only through the store: each poll reads from where the last
// one ended, and so reads each byte of the log once, however long it gets.
func TestFollowElsewhereReadsOnlyNewBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		store := &counting{Store: f.objects}
		f.svc.objects = store
		a := &objectstest.Appender{S: f.objects, Key: logKey(followedRun)}
		c := &client{}
		done := f.follow(t.Context(), c, 0)
		synctest.Wait()
		var total int64
		for i := range 50 {
			chunk := []byte(strings.Repeat(fmt.Sprintf("%d", i%10), 1000) + "\n")
			require.NoError(t, a.Append(t.Context(), chunk))
			time.Sleep(f.svc.tuning.Poll)
			synctest.Wait()
			reads, n := store.take()
			require.Equal(t, []int64{total}, reads, "poll %d reads from where the last one ended", i)
			require.Equal(t, int64(len(chunk)), n, "poll %d reads only the new bytes", i)
			total += int64(len(chunk))
			data, _ := parseStream(t, c.fresh())
			require.Equal(t, []string{string(chunk[:1000])}, data)
		}
		time.Sleep(f.svc.tuning.Poll) // nothing new: nothing read
		synctest.Wait()
		_, n := store.take()
		require.Zero(t, n)
		f.records.end(StatusSucceeded, 0)
		time.Sleep(f.svc.tuning.Poll)
		require.NoError(t, ended(t, done))
	})
}

func TestFollowFinishedRunResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		require.NoError(t, f.objects.AppendAt(t.Context(), logKey(followedRun), 0, []byte("a\nb\nc")))
		f.records.end(StatusFailed, 2)
		end := "event: end\ndata: {\"status\":\"failed\",\"exit_code\":2,\"error\":null,\"log_truncated\":false}\n\n"
		for from, want := range map[int64]string{
			0: "data: a\ndata: b\nid: 4\n\n" + "data: c\nid: 5\n\n" + end,
			2: "data: b\nid: 4\n\n" + "data: c\nid: 5\n\n" + end, // Last-Event-ID: 2
			4: "data: c\nid: 5\n\n" + end,
			5: end,
		} {
			c := &client{}
			require.NoError(t, ended(t, f.follow(t.Context(), c, from)))
			require.Equal(t, want, c.fresh(), "from %d", from)
		}
	})
}

func TestFollowEnds(t *testing.T) {
	tests := []struct {
		name   string
		client *client
		end    func(stop context.CancelFunc, keepAlive time.Duration)
		want   error
	}{
		{"when the server stops", &client{}, func(stop context.CancelFunc, _ time.Duration) { stop() }, context.Canceled},
		{"when the client is gone, at the next keep-alive", &client{fail: errGone},
			func(_ context.CancelFunc, keepAlive time.Duration) { time.Sleep(keepAlive) }, errGone},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t)
			lw := f.live()
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			done := f.follow(ctx, tt.client, 0)
			synctest.Wait()
			tt.end(stop, f.svc.tuning.KeepAlive)
			require.ErrorIs(t, ended(t, done), tt.want, tt.name)
			require.Equal(t, 0, f.svc.Followers(), tt.name)
			write(t, lw, "later\n") // the writer never waits for a gone follower
		})
	}
}

var errGone = errors.New("connection reset by peer")

// parseStream returns the data lines of a stream's events, in order, and
// the last event id.
func parseStream(t *testing.T, s string) (data []string, lastID int64) {
	t.Helper()
	for ev := range strings.SplitSeq(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		for line := range strings.SplitSeq(ev, "\n") {
			switch {
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case strings.HasPrefix(line, "id: "):
				var id int64
				_, err := fmt.Sscan(strings.TrimPrefix(line, "id: "), &id)
				require.NoError(t, err)
				require.Greater(t, id, lastID, "ids grow")
				lastID = id
			}
		}
	}
	return data, lastID
}
