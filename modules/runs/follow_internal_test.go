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

func newFixture(t *testing.T) *fixture {
	t.Helper()
	objs, err := objects.NewLocal(t.TempDir())
	require.NoError(t, err)
	f := &fixture{worker: &Worker{hub: newLogHub()}, objects: objs,
		records: &records{run: Run{ID: followedRun, Status: StatusRunning}}}
	f.svc = &Service{store: f.records, objects: objs, worker: f.worker, tuning: DefaultTuning(), log: zap.NewNop()}
	return f
}

// live starts the run's log writer on the Worker, as work's pumpLog does.
// It never flushes by itself: tests call flush.
func (f *fixture) live() *logWriter {
	lw := newLogWriter(followedRun, f.objects, zap.NewNop(), time.Hour, 1<<20)
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
		write(t, lw, "start\n") // not stored yet: the subscription hands it over
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
			"event: end\ndata: {\"status\":\"succeeded\",\"exit_code\":0,\"error\":null}\n\n", c.fresh())
		require.NoError(t, ended(t, done))
		require.Equal(t, 0, f.svc.Followers())
	})
}

// TestFollowSlowClient has a client that stops reading: the writer drops
// its follower rather than wait, and the follower, once the client reads
// again, catches up from the store and subscribes again without losing or
// repeating a byte.
func TestFollowSlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		c := &client{gate: make(chan struct{})}
		ctx, stop := context.WithCancel(t.Context())
		done := f.follow(ctx, c, 0)
		synctest.Wait()

		// One chunk in the client's write, subscriberBuffer waiting, and
		// one more than that: the follower lags.
		var want []string
		for i := range subscriberBuffer + 2 {
			line := fmt.Sprintf("line %d", i)
			write(t, lw, line+"\n")
			want = append(want, line)
		}
		synctest.Wait()
		lw.mu.Lock()
		require.Empty(t, lw.subs, "the lagging follower is dropped")
		lw.mu.Unlock()
		lw.flush(t.Context()) // what it missed is in the store
		write(t, lw, "tail\n")
		want = append(want, "tail")

		close(c.gate)
		synctest.Wait()
		data, lastID := parseStream(t, c.fresh())
		require.Equal(t, want, data)
		require.Equal(t, lw.total, lastID, "the last id is the end of the log")
		lw.mu.Lock()
		require.Len(t, lw.subs, 1, "caught up, it follows live again")
		lw.mu.Unlock()

		stop()
		require.ErrorIs(t, ended(t, done), context.Canceled)
	})
}

// firstRead is an object store whose first read by a follower is out of
// step with the log writer: hook runs just before it (a flush landing), and
// a stale first read does not show what was stored yet.
type firstRead struct {
	objects.Store
	hook  func()
	stale bool

	once sync.Once
}

func (s *firstRead) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	first := false
	s.once.Do(func() {
		first = true
		if s.hook != nil {
			s.hook()
		}
	})
	if first && s.stale {
		return nil, derrors.ErrNotFound
	}
	return s.Store.Get(ctx, key)
}

// TestFollowSendsNoByteTwice subscribes while the writer flushes: the
// bytes the store and the subscription both hold are sent once.
func TestFollowSendsNoByteTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		write(t, lw, "a\n") // pending when the follower subscribes
		f.svc.objects = &firstRead{Store: f.objects, hook: func() {
			write(t, lw, "b\n") // on the subscription
			lw.flush(t.Context())
		}}
		c := &client{}
		ctx, stop := context.WithCancel(t.Context())
		done := f.follow(ctx, c, 0)
		synctest.Wait()
		write(t, lw, "c\n")
		synctest.Wait()
		require.Equal(t, "data: a\ndata: b\nid: 4\n\n"+"data: c\nid: 6\n\n", c.fresh())
		stop()
		require.ErrorIs(t, ended(t, done), context.Canceled)
	})
}

// TestFollowStartsOverAtAGap has a store that lags behind the writer's
// flushes: the subscription's first bytes come after what the store showed,
// and the follower starts over rather than skip the bytes between.
func TestFollowStartsOverAtAGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		lw := f.live()
		write(t, lw, "a\n")
		lw.flush(t.Context())
		write(t, lw, "b\n")
		f.svc.objects = &firstRead{Store: f.objects, stale: true}
		c := &client{}
		ctx, stop := context.WithCancel(t.Context())
		done := f.follow(ctx, c, 0)
		synctest.Wait()
		require.Equal(t, "data: a\nid: 2\n\n"+"data: b\nid: 4\n\n", c.fresh())
		stop()
		require.ErrorIs(t, ended(t, done), context.Canceled)
	})
}

func TestFollowFinishedRunResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		require.NoError(t, f.objects.AppendAt(t.Context(), logKey(followedRun), 0, []byte("a\nb\nc")))
		f.records.end(StatusFailed, 2)
		end := "event: end\ndata: {\"status\":\"failed\",\"exit_code\":2,\"error\":null}\n\n"
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
			lw.mu.Lock()
			require.Empty(t, lw.subs, "%s: the subscription is gone", tt.name)
			lw.mu.Unlock()
			require.Equal(t, 0, f.svc.Followers(), tt.name)
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
