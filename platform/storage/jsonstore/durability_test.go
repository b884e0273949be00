package jsonstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The test binary doubles as the child process of the lock and crash tests:
// with childEnv set it runs the named role instead of the tests.
const (
	childEnv    = "JSONSTORE_TEST_CHILD"
	childDirEnv = "JSONSTORE_TEST_DIR"
	childArgEnv = "JSONSTORE_TEST_ARG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "hold":
		os.Exit(childHold(os.Getenv(childDirEnv)))
	case "storm":
		os.Exit(childStorm(os.Getenv(childDirEnv), os.Getenv(childArgEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
}

// childHold opens the store, says "ready" and holds it until stdin closes.
func childHold(dir string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	s.Close()
	return 0
}

// childStorm writes until killed: 8 goroutines insert documents, put a
// per-goroutine counter, and delete some of their documents, printing one
// line per acknowledged Update after it returned:
//
//	i <id>            document id was inserted
//	D <id>            document id is about to be deleted (may or may not be, after a kill)
//	d <id>            document id was deleted
//	c <id> <count>    counter id holds at least count
//	s <step>          compaction reached step
func childStorm(dir, arg string) int {
	compact, round, _ := strings.Cut(arg, ":")
	cb, _ := strconv.ParseInt(compact, 10, 64)
	var mu sync.Mutex
	ack := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(line + "\n")
	}
	s, err := Open(dir, Options{CompactBytes: cb, hook: func(step string) error {
		ack("s " + step)
		return nil
	}})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	c, err := NewCollection(s, userSpec())
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			counter := fmt.Sprintf("r%s-counter%d", round, g)
			for n := 1; ; n++ {
				id := fmt.Sprintf("r%s-g%d-%06d", round, g, n)
				u := &user{ID: id, Email: id + "@example.com", Org: fmt.Sprintf("g%d", g),
					Tags: []string{strings.Repeat("x", 500)}, CreatedAt: time.Now()}
				err := s.Update(ctx, func(tx *Tx) error {
					if err := c.Insert(tx, u); err != nil {
						return err
					}
					return c.Put(tx, &user{ID: counter, Email: counter + "@example.com", Count: n, CreatedAt: t0})
				})
				if err != nil {
					ack("error: " + err.Error())
					return
				}
				ack("i " + id)
				ack(fmt.Sprintf("c %s %d", counter, n))
				if n%5 == 0 {
					victim := fmt.Sprintf("r%s-g%d-%06d", round, g, n-2)
					ack("D " + victim)
					if err := s.Update(ctx, func(tx *Tx) error { return c.Delete(tx, victim) }); err != nil {
						ack("error: " + err.Error())
						return
					}
					ack("d " + victim)
				}
			}
		})
	}
	wg.Wait()
	return 1
}

func childCmd(t *testing.T, role, dir, arg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir, childArgEnv+"="+arg)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestLockInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir, Options{})
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	pid, err := os.ReadFile(filepath.Join(dir, "LOCK"))
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(pid))

	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.EqualError(t, err, fmt.Sprintf("data dir %q is already open in this slipway process (pid %d)", dir, os.Getpid()))

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is a no-op")
	s2, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s2.Close())

	require.ErrorIs(t, s.View(context.Background(), func(*Tx) error { return nil }), ErrClosed)
	require.ErrorIs(t, s.Update(context.Background(), func(*Tx) error { return nil }), ErrClosed)
}

func TestLockHeldByChildProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := childCmd(t, "hold", dir, "")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	msg := err.Error()
	require.Equal(t, fmt.Sprintf("data dir %q is already in use by another slipway process (pid %d)", dir, cmd.Process.Pid), msg)
	require.NotContains(t, msg, "\n")

	// A lock dies with its process, even on SIGKILL.
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	stdin.Close()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// walFiles returns the log files of dir, oldest first.
func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	require.NoError(t, err)
	slices.Sort(m)
	return m
}

func TestTornTailIsTruncated(t *testing.T) {
	frame := func(payload string, crcDelta uint32) []byte {
		b := make([]byte, 8, 8+len(payload))
		binary.LittleEndian.PutUint32(b, uint32(len(payload)))
		binary.LittleEndian.PutUint32(b[4:], crcOf([]byte(payload))+crcDelta)
		return append(b, payload...)
	}
	tests := []struct {
		name string
		tail func(last []byte) []byte // what to do to the file, given its last frame
		// cutLast: the tail damages the last valid record, which is lost
		cutLast bool
	}{
		{"garbage", func([]byte) []byte { return []byte("this is not a frame at all") }, false},
		{"half a header", func([]byte) []byte { return []byte{0x10, 0, 0} }, false},
		{"zero filled", func([]byte) []byte { return make([]byte, 4096) }, false},
		{"half a frame", func(last []byte) []byte { return last[:len(last)/2] }, false},
		{"length past end", func([]byte) []byte { return frame(`{"seq":99,"ops":[]}`, 0)[:12] }, false},
		{"bad checksum", func([]byte) []byte { return frame(`{"seq":99,"ops":[]}`, 1) }, false},
		{"valid frame, not json", func([]byte) []byte { return frame(`not json`, 0) }, false},
		{"last record cut short", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, c := openUsers(t, dir, Options{})
			insert(t, s, c, mkUser("a", 0), mkUser("b", 0))
			before := fileSize(t, walFiles(t, dir)[0])
			// The cascade: two deletes and an insert in one record.
			require.NoError(t, s.Update(ctx, func(tx *Tx) error {
				require.NoError(t, c.Delete(tx, "a"))
				require.NoError(t, c.Delete(tx, "b"))
				return c.Insert(tx, mkUser("c", 0))
			}))
			require.NoError(t, s.Close())

			wal := walFiles(t, dir)[0]
			data, err := os.ReadFile(wal)
			require.NoError(t, err)
			last := data[before:]
			if tt.cutLast {
				data = data[:len(data)-5]
			} else {
				data = append(data, tt.tail(last)...)
			}
			require.NoError(t, os.WriteFile(wal, data, 0o600))
			full := before + int64(len(last))
			wantSize := full
			if tt.cutLast {
				wantSize = before
			}
			dropped := int64(len(data)) - wantSize

			core, logs := observer.New(zapcore.InfoLevel)
			s, c = openUsers(t, dir, Options{Logger: zap.New(core)})
			entries := logs.FilterMessageSnippet("torn tail").All()
			require.Len(t, entries, 1)
			require.Equal(t, dropped, entries[0].ContextMap()["dropped_bytes"])
			require.Equal(t, wantSize, fileSize(t, wal))

			// The cascade is all or nothing.
			_, errA := get(t, s, c, "a")
			_, errC := get(t, s, c, "c")
			if tt.cutLast {
				require.NoError(t, errA)
				require.ErrorIs(t, errC, derrors.ErrNotFound)
				require.Equal(t, 2, count(t, s, c, "", ""))
			} else {
				require.ErrorIs(t, errA, derrors.ErrNotFound)
				require.NoError(t, errC)
				require.Equal(t, 1, count(t, s, c, "", ""))
			}

			// Writing after the cut works and survives another reopen.
			insert(t, s, c, mkUser("d", 0))
			require.NoError(t, s.Close())
			s, c = openUsers(t, dir, Options{})
			_, err = get(t, s, c, "d")
			require.NoError(t, err)
		})
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func TestCorruptionBeforeTheTailFailsOpen(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    string
	}{
		{"snapshot damaged", func(t *testing.T, dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "snap-*.json"))
			require.Len(t, m, 1)
			data, err := os.ReadFile(m[0])
			require.NoError(t, err)
			i := strings.Index(string(data), "@example.com")
			data[i+1] = 'E'
			require.NoError(t, os.WriteFile(m[0], data, 0o600))
		}, "checksum or document count mismatch"},
		{"snapshot truncated", func(t *testing.T, dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "snap-*.json"))
			data, err := os.ReadFile(m[0])
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(m[0], data[:len(data)/2], 0o600))
		}, "snapshot is truncated"},
		{"log after the snapshot missing", func(t *testing.T, dir string) {
			wals := walFiles(t, dir)
			require.Len(t, wals, 1)
			// Replace the current log by one that starts later.
			require.NoError(t, os.Rename(wals[0], filepath.Join(dir, walName(1000))))
			require.NoError(t, os.WriteFile(filepath.Join(dir, walName(1000)), mustRecord(t, 1000), 0o600))
		}, "transactions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, c := openUsers(t, dir, Options{CompactBytes: 1})
			insert(t, s, c, mkUser("a", 0))
			require.Eventually(t, func() bool { return s.Stats().Compactions == 1 && !s.compacting.Load() }, 10*time.Second, time.Millisecond)
			require.NoError(t, s.Close())
			require.Equal(t, []string{snapName(1), walName(2)}, dirState(t, dir))
			tt.corrupt(t, dir)
			_, err := Open(dir, Options{})
			require.ErrorContains(t, err, tt.want)
			require.NotErrorIs(t, err, ErrLocked)
		})
	}
}

func mustRecord(t *testing.T, seq uint64) []byte {
	t.Helper()
	b, err := appendRecord(nil, seq, []op{{coll: "users", id: "z", raw: []byte(`{"id":"z"}`)}})
	require.NoError(t, err)
	return b
}

func TestStaleTempFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	s, c := openUsers(t, dir, Options{})
	insert(t, s, c, mkUser("a", 0))
	require.NoError(t, s.Close())
	tmp := filepath.Join(dir, snapName(1)+tmpSuffix)
	require.NoError(t, os.WriteFile(tmp, []byte(`{"format":"slipway-jsonstore-snapshot","version":1,"seq":1}`+"\n{\"c\":\"users\",\"id\":"), 0o600))

	s, c = openUsers(t, dir, Options{})
	_, err := get(t, s, c, "a")
	require.NoError(t, err)
	require.NoFileExists(t, tmp)
}

// dirState returns the sorted names of the snapshots and logs in dir.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.Name() != "LOCK" {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestCompactionCrashPoints(t *testing.T) {
	// halfSnapshot cuts the newest snapshot file, as a crash during its write would.
	halfSnapshot := func(t *testing.T, dir string) {
		m, err := filepath.Glob(filepath.Join(dir, "snap-*"))
		require.NoError(t, err)
		require.NotEmpty(t, m)
		slices.Sort(m)
		require.NoError(t, os.Truncate(m[len(m)-1], fileSize(t, m[len(m)-1])/2))
	}
	tests := []struct {
		name     string
		step     string
		leftover []string // files present when the "crash" happens, besides the new log
		damage   func(t *testing.T, dir string)
	}{
		{"log switched", stepLogSwitched, []string{walName(1)}, nil},
		{"snapshot written", stepSnapshotWritten, []string{snapName(21) + tmpSuffix, walName(1)}, nil},
		{"snapshot half written", stepSnapshotWritten, []string{snapName(21) + tmpSuffix, walName(1)}, halfSnapshot},
		{"snapshot renamed", stepSnapshotRenamed, []string{snapName(21), walName(1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			crashed := make(chan struct{})
			var once sync.Once
			opts := Options{CompactBytes: -1, hook: func(step string) error {
				if step != tt.step {
					return nil
				}
				once.Do(func() { close(crashed) })
				return errors.New("simulated crash at " + step)
			}}
			s, c := openUsers(t, dir, opts)
			for i := range 20 {
				u := mkUser(fmt.Sprintf("u%02d", i), time.Duration(i))
				u.Org = "o"
				insert(t, s, c, u)
			}
			// 20 commits are in; the next log passes the threshold.
			s.opts.CompactBytes = 1
			require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Delete(tx, "u00") }))
			<-crashed
			// Hold compaction off again and crash: abandon the files as they are.
			s.opts.CompactBytes = -1
			s.bg.Wait()
			require.ElementsMatch(t, append(slices.Clone(tt.leftover), walName(22)), dirState(t, dir))
			require.NoError(t, s.Close())
			if tt.damage != nil {
				tt.damage(t, dir)
			}

			s, c = openUsers(t, dir, Options{})
			require.Equal(t, 19, count(t, s, c, "", ""))
			require.Equal(t, 19, count(t, s, c, "org", "o"))
			_, err := get(t, s, c, "u00")
			require.ErrorIs(t, err, derrors.ErrNotFound)
			for _, name := range dirState(t, dir) {
				require.NotContains(t, name, tmpSuffix)
			}
			if tt.step == stepSnapshotRenamed {
				require.Equal(t, []string{snapName(21), walName(22)}, dirState(t, dir), "open drops the log the snapshot covers")
			}
			// And the store keeps working from there.
			insert(t, s, c, mkUser("next", 0))
			require.NoError(t, s.Close())
			s, c = openUsers(t, dir, Options{})
			require.Equal(t, 20, count(t, s, c, "", ""))
		})
	}
}

// TestCompactionKeepsEverything writes past the compaction threshold many
// times, deleting some documents, with writes going on while each
// compaction is held just after it switched logs. The hook, not the disk's
// speed, decides how writes and compactions interleave: every crossing of
// the threshold compacts once, and writes land in the new log meanwhile.
func TestCompactionKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, c := openUsers(t, dir, Options{CompactBytes: 16 << 10})
	// An unregistered collection, as written by another version of slipway.
	type legacy struct {
		ID string `json:"id"`
		X  []int  `json:"x"`
	}
	lc, err := NewCollection(s, CollectionSpec[legacy]{Name: "legacy", ID: func(v *legacy) string { return v.ID }})
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return lc.Insert(tx, &legacy{ID: "old", X: []int{1, 2}}) }))
	require.NoError(t, s.Close())

	switched := make(chan struct{})
	resume := make(chan struct{})
	failed := make(chan struct{}) // closed at cleanup, so a failing test does not hang in Close
	s, c = openUsers(t, dir, Options{CompactBytes: 16 << 10, hook: func(step string) error {
		if step == stepLogSwitched {
			select {
			case switched <- struct{}{}:
			case <-failed:
				return nil
			}
			select {
			case <-resume:
			case <-failed:
			}
		}
		return nil
	}})
	t.Cleanup(func() { close(failed) })
	// finish lets the held compaction go on and waits for its end. Nothing
	// else writes, so no compaction can start during the wait.
	finish := func() {
		resume <- struct{}{}
		s.bg.Wait()
	}
	const writesDuringCompaction = 5
	held := -1 // the write after which the running compaction was held
	want := map[string]int{}
	for i := range 400 {
		id := fmt.Sprintf("u%03d", i%150)
		require.NoError(t, s.Update(ctx, func(tx *Tx) error {
			u := mkUser(id, time.Duration(i))
			u.Count = i
			u.Tags = []string{strings.Repeat("t", 100)}
			if i%7 == 0 {
				delete(want, id)
				if err := c.Delete(tx, id); !errors.Is(err, derrors.ErrNotFound) {
					return err
				}
				return nil
			}
			want[id] = i
			return c.Put(tx, u)
		}))
		switch {
		case held < 0 && s.compacting.Load():
			// This write's commit started a compaction (the flag is set
			// before Update returns); wait until it switched logs.
			<-switched
			held = i
		case held >= 0 && i-held == writesDuringCompaction:
			finish()
			held = -1
		}
	}
	if held >= 0 {
		finish()
	}
	st := s.Stats()
	t.Logf("%d compactions", st.Compactions)
	require.GreaterOrEqual(t, st.Compactions, uint64(3))
	require.NoError(t, s.Close())
	names := dirState(t, dir)
	require.Len(t, names, 2, "one snapshot and one log: %v", names)

	s, c = openUsers(t, dir, Options{})
	require.Equal(t, len(want), count(t, s, c, "", ""))
	for id, n := range want {
		u, err := get(t, s, c, id)
		require.NoError(t, err)
		require.Equal(t, n, u.Count)
	}
	lc, err = NewCollection(s, CollectionSpec[legacy]{Name: "legacy", ID: func(v *legacy) string { return v.ID }})
	require.NoError(t, err)
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		v, err := lc.Get(tx, "old")
		require.NoError(t, err)
		require.Equal(t, []int{1, 2}, v.X)
		return nil
	}))

	// The snapshot is human readable JSON lines.
	snap, err := filepath.Glob(filepath.Join(dir, "snap-*.json"))
	require.NoError(t, err)
	data, err := os.ReadFile(snap[0])
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Contains(t, lines[0], `"format":"slipway-jsonstore-snapshot"`)
	require.Equal(t, `{"c":"legacy","id":"old","v":{"id":"old","x":[1,2]}}`, lines[1])
	require.Contains(t, lines[len(lines)-1], `"end":true`)
}

// TestLogWriteFailureIsRecovered: the log file fails under the store, as a
// dying disk would. The write is refused as a retryable disk outage and not
// applied, and the next write goes through without a reopen.
func TestLogWriteFailureIsRecovered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	core, logs := observer.New(zapcore.InfoLevel)
	s, c := openUsers(t, dir, Options{Logger: zap.New(core)})
	insert(t, s, c, mkUser("a", 0))

	s.cmu.Lock()
	require.NoError(t, s.wal.Close())
	s.cmu.Unlock()

	err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser("b", 0)) })
	requireDiskOutage(t, err, os.ErrClosed)
	require.Len(t, logs.FilterMessageSnippet("the disk refused a log append").All(), 1)
	// Readers keep the durable state, without the failed write.
	_, err = get(t, s, c, "a")
	require.NoError(t, err)
	_, err = get(t, s, c, "b")
	require.ErrorIs(t, err, derrors.ErrNotFound)

	insert(t, s, c, mkUser("c", 0))
	require.Len(t, logs.FilterMessageSnippet("log appends succeed again").All(), 1)
	require.NoError(t, s.Close())

	s, c = openUsers(t, dir, Options{})
	require.Equal(t, 2, count(t, s, c, "", ""))
	_, err = get(t, s, c, "b")
	require.ErrorIs(t, err, derrors.ErrNotFound)
}

// TestGroupCommit holds the first fsync until every writer has queued a
// commit: those queued behind it are then made durable by one fsync
// together. The hook, not the disk's speed, makes the committers overlap.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	const writers, each = 8, 40
	entered := make(chan struct{})
	release := make(chan struct{})
	var first atomic.Bool
	s, c := openUsers(t, t.TempDir(), Options{syncHook: func() {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}})
	var released sync.Once
	t.Cleanup(func() { released.Do(func() { close(release) }) })
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("g%d-%d", g, i)
				if err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser(id, 0)) }); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	<-entered
	// Every writer's first commit is queued once the sequence reaches
	// writers: none can commit a second before its first is durable.
	queued := func() uint64 {
		s.wmu <- struct{}{}
		defer func() { <-s.wmu }()
		return s.seq
	}
	require.Eventually(t, func() bool { return queued() == writers }, 10*time.Second, time.Millisecond)
	released.Do(func() { close(release) })
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := s.Stats()
	require.Equal(t, uint64(writers*each), st.Commits)
	t.Logf("%d writers: %d commits in %d fsyncs (%.1f commits per fsync)", writers, st.Commits, st.Syncs, float64(st.Commits)/float64(st.Syncs))
	// The first writers*1 commits took at most two fsyncs (the held batch
	// and everything queued behind it); the rest at most one each.
	require.LessOrEqual(t, st.Syncs, st.Commits-(writers-2), "concurrent committers share fsyncs")
	require.Equal(t, writers*each, count(t, s, c, "", ""))
}

// acked is what storm children acknowledged, accumulated over rounds.
type acked struct {
	inserted, deleting, deleted map[string]bool
	counters                    map[string]int
	steps                       map[string]int // compaction steps the children reported
}

// TestCrashKill9 runs a write storm in a child process, SIGKILLs it mid-storm
// and requires every write the child saw acknowledged to be there after a
// reopen, over several rounds on the same dir. With compaction on, the kills
// are aimed at each phase of a compaction running under the storm.
func TestCrashKill9(t *testing.T) {
	tests := []struct {
		name         string
		compactBytes int64
		killAt       []string // per round: the compaction step to kill at, "" for any time
	}{
		{"no compaction", -1, []string{"", "", ""}},
		{"compacting every 32KiB", 32 << 10, []string{"", stepLogSwitched, stepSnapshotWritten, stepSnapshotRenamed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a := &acked{
				inserted: map[string]bool{}, deleting: map[string]bool{}, deleted: map[string]bool{},
				counters: map[string]int{}, steps: map[string]int{},
			}
			for round, step := range tt.killAt {
				stormRound(t, dir, fmt.Sprintf("%d:%d", tt.compactBytes, round), 150+round*100, step, a)

				core, logs := observer.New(zapcore.InfoLevel)
				s, c := openUsers(t, dir, Options{Logger: zap.New(core)})
				for _, e := range logs.All() {
					t.Logf("round %d reopen: %s %v", round, e.Message, e.ContextMap())
				}
				require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
					for id := range a.inserted {
						_, err := c.Get(tx, id)
						switch {
						case a.deleted[id]:
							require.ErrorIs(t, err, derrors.ErrNotFound, "acknowledged delete of %s lost", id)
						case a.deleting[id]:
							// The kill came during its delete: either outcome is right.
						default:
							require.NoError(t, err, "acknowledged insert of %s lost", id)
						}
					}
					for id, n := range a.counters {
						u, err := c.Get(tx, id)
						require.NoError(t, err)
						require.GreaterOrEqual(t, u.Count, n, "counter %s went back", id)
					}
					return nil
				}))
				require.NoError(t, s.Close())
			}
			t.Logf("%d inserts, %d deletes acknowledged over %d kills; compaction steps seen: %v",
				len(a.inserted), len(a.deleted), len(tt.killAt), a.steps)
			if tt.compactBytes > 0 {
				require.Positive(t, a.steps[stepSnapshotRenamed], "compactions ran during the storms")
			}
		})
	}
}

// stormRound starts a storm child, reads its acknowledgements and SIGKILLs it
// once at least minAcks arrived and, when killAt is set, right after it
// reports reaching compaction step killAt. Every line it printed is recorded.
func stormRound(t *testing.T, dir, arg string, minAcks int, killAt string, a *acked) {
	t.Helper()
	cmd := childCmd(t, "storm", dir, arg)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	n := 0
	sent := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		require.NotEqual(t, "error:", f[0], "child failed: %s", sc.Text())
		switch f[0] {
		case "i":
			a.inserted[f[1]] = true
		case "D":
			a.deleting[f[1]] = true
		case "d":
			a.deleted[f[1]] = true
		case "c":
			v, err := strconv.Atoi(f[2])
			require.NoError(t, err)
			a.counters[f[1]] = max(a.counters[f[1]], v)
		case "s":
			a.steps[f[1]]++
		default:
			t.Fatalf("unexpected child output %q", sc.Text())
		}
		n++
		if !sent && n >= minAcks && (killAt == "" || (f[0] == "s" && f[1] == killAt)) {
			require.NoError(t, cmd.Process.Signal(os.Kill))
			sent = true
		}
		if !sent && n > 50*minAcks {
			t.Fatalf("child never reported compaction step %q", killAt)
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	killed = true
	require.True(t, sent, "child exited early: %v", err)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "signal: killed", ee.Error())
}
