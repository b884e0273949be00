package jsonstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/stretchr/testify/require"
)

// requireDiskOutage checks that err is what a write gets while the disk
// refuses it: a retryable outage of the "disk" service, caused by cause.
func requireDiskOutage(t *testing.T, err error, cause error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, derrors.ErrUnavailable, "%v", err)
	var ue *derrors.UnavailableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "disk", ue.Service)
	require.True(t, derrors.KindOf(err).Retryable())
	if cause != nil {
		require.ErrorIs(t, err, cause)
	}
}

// A fault is what a failing disk does to one append of a batch: write some
// or all of it, and return an error.
type fault func(f *os.File, buf []byte) error

// enospcMidway writes half the batch, then runs out of space.
func enospcMidway(f *os.File, buf []byte) error {
	if _, err := f.Write(buf[:len(buf)/2]); err != nil {
		return err
	}
	return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// fsyncFails writes the whole batch, then fails the fsync: the frames are
// complete and valid in the file, whatever the disk holds.
func fsyncFails(f *os.File, buf []byte) error {
	if _, err := f.Write(buf); err != nil {
		return err
	}
	return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
}

// faultyLog returns a writeLog that applies the fault it is armed with to
// the next append, once, and appends normally otherwise.
func faultyLog() (writeLog func(*os.File, []byte) error, arm func(fault)) {
	var next atomic.Pointer[fault]
	writeLog = func(f *os.File, buf []byte) error {
		if flt := next.Swap(nil); flt != nil {
			return (*flt)(f, buf)
		}
		return writeAndSync(f, buf)
	}
	return writeLog, func(flt fault) { next.Store(&flt) }
}

// TestFailedAppendIsCut fails one append in each way a disk can, and
// requires that the failed transaction is refused as a disk outage, is not
// visible, leaves the log as it was, and that the next write goes through
// and a reopen reads exactly the acknowledged writes.
func TestFailedAppendIsCut(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
		cause error
	}{
		{"no space after part of the batch", enospcMidway, syscall.ENOSPC},
		{"fsync fails after the whole batch", fsyncFails, syscall.EIO},
		{"I/O error before any byte", func(f *os.File, _ []byte) error {
			return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.EIO}
		}, syscall.EIO},
		{"short write", func(f *os.File, buf []byte) error {
			if _, err := f.Write(buf[:3]); err != nil {
				return err
			}
			return io.ErrShortWrite
		}, io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			writeLog, arm := faultyLog()
			s, c := openUsers(t, dir, Options{writeLog: writeLog})
			insert(t, s, c, mkUser("a", 0))
			wal := walFiles(t, dir)[0]
			size := fileSize(t, wal)

			arm(tt.fault)
			err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser("b", 0)) })
			requireDiskOutage(t, err, tt.cause)
			require.NotErrorIs(t, err, errReadFailedWrite)
			require.Equal(t, size, fileSize(t, wal), "the failed append is cut off the log")
			_, err = get(t, s, c, "b")
			require.ErrorIs(t, err, derrors.ErrNotFound)
			require.Equal(t, uint64(1), s.Stats().FailedAppends)

			insert(t, s, c, mkUser("c", 0))
			require.NoError(t, s.Close())
			s, c = openUsers(t, dir, Options{})
			require.Equal(t, 2, count(t, s, c, "", ""))
			_, err = get(t, s, c, "b")
			require.ErrorIs(t, err, derrors.ErrNotFound)
			_, err = get(t, s, c, "c")
			require.NoError(t, err)
		})
	}
}

// TestFailedCutIsRetried: the disk refuses even the truncate that cuts a
// failed append off. Until a cut works nothing is appended after the failed
// bytes (writes answer an outage, compaction does not switch logs), each
// write tries the cut again, and Close tries it one last time.
func TestFailedCutIsRetried(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeLog, arm := faultyLog()
	var cutFailures atomic.Int32 // cuts still to fail
	s, c := openUsers(t, dir, Options{writeLog: writeLog, CompactBytes: -1, hook: func(step string) error {
		if step == stepLogCut && cutFailures.Add(-1) >= 0 {
			return &os.PathError{Op: "truncate", Path: "wal", Err: syscall.EIO}
		}
		return nil
	}})
	insert(t, s, c, mkUser("a", 0))
	wal := walFiles(t, dir)[0]
	size := fileSize(t, wal)

	cutFailures.Store(2)
	arm(fsyncFails)
	err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser("b", 0)) })
	requireDiskOutage(t, err, syscall.EIO)
	require.Greater(t, fileSize(t, wal), size, "the cut failed: b's frame is still in the file")
	err = s.compact()
	require.ErrorContains(t, err, "the current log still holds a failed append")
	require.Len(t, walFiles(t, dir), 1)

	// The next write tries the cut first; it fails again, so the write is
	// refused without being appended.
	err = s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser("c", 0)) })
	requireDiskOutage(t, err, syscall.EIO)
	require.ErrorContains(t, err, "truncate")
	_, err = get(t, s, c, "a")
	require.NoError(t, err, "reads go on")

	// The third cut works; the write after it goes through.
	insert(t, s, c, mkUser("d", 0))
	require.Equal(t, uint64(2), s.Stats().FailedAppends)

	// A failed append whose cut fails is cut by Close.
	cutFailures.Store(1)
	arm(fsyncFails)
	err = s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, mkUser("e", 0)) })
	requireDiskOutage(t, err, syscall.EIO)
	require.NoError(t, s.Close())

	s, c = openUsers(t, dir, Options{})
	require.Equal(t, 2, count(t, s, c, "", ""))
	for _, id := range []string{"b", "c", "e"} {
		_, err := get(t, s, c, id)
		require.ErrorIs(t, err, derrors.ErrNotFound, id)
	}
}

// gate holds the appends of a test's log one at a time: each append says
// it entered, shows its batch and waits for the verdict, nil to write it
// normally or an error to fail it after writing half of it. Once the test
// ends (done), appends go through, so a failing test does not hang in Close.
type gate struct {
	entered chan []uint64 // sequence numbers of the batch held
	verdict chan error
	done    chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan []uint64), verdict: make(chan error), done: make(chan struct{})}
}

func (g *gate) writeLog(f *os.File, buf []byte) error {
	select {
	case g.entered <- frameSeqs(buf):
	case <-g.done:
		return writeAndSync(f, buf)
	}
	var err error
	select {
	case err = <-g.verdict:
	case <-g.done:
	}
	if err != nil {
		f.Write(buf[:len(buf)/2])
		return err
	}
	return writeAndSync(f, buf)
}

// frameSeqs returns the sequence numbers of the records framed in buf.
func frameSeqs(buf []byte) []uint64 {
	var seqs []uint64
	for len(buf) >= frameHeaderSize {
		n := binary.LittleEndian.Uint32(buf)
		var rec walRecord
		if json.Unmarshal(buf[frameHeaderSize:frameHeaderSize+int(n)], &rec) != nil {
			return append(seqs, 0)
		}
		seqs = append(seqs, rec.Seq)
		buf = buf[frameHeaderSize+int(n):]
	}
	return seqs
}

// recv receives from ch, failing the test rather than hanging when nothing
// comes: a store that loses track of a waiter must fail, not time out.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received in 10s")
		panic("unreachable")
	}
}

// lastQueued returns the sequence number of the last record queued.
func lastQueued(s *Store) uint64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.bufSeq
}

// TestGroupCommitFailure: a batch of three commits fails while more work
// builds on it: a commit queued behind it, a read-only Update that read
// its writes, and a commit whose function is running. The batch's
// commits get the disk's error; the three built on them get an error
// saying they read writes that did not reach the log; nothing of any of
// them is applied; and the next batch, started after the failure, is
// written normally.
func TestGroupCommitFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := newGate()
	s, c := openUsers(t, dir, Options{writeLog: g.writeLog, CompactBytes: -1})
	t.Cleanup(func() { close(g.done) }) // runs before the Close openUsers registered

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 16)
	start := func(name string, fn func(tx *Tx) error) {
		go func() { results <- result{name, s.Update(ctx, fn)} }()
	}
	insertAs := func(id string) func(tx *Tx) error {
		return func(tx *Tx) error { return c.Insert(tx, mkUser(id, 0)) }
	}
	wait := func(n int) map[string]error {
		got := map[string]error{}
		for range n {
			r := recv(t, results)
			got[r.name] = r.err
		}
		return got
	}

	// Batch 1 (a) is held while b1, b2 and b3 queue behind it.
	start("a", insertAs("a"))
	require.Equal(t, []uint64{1}, recv(t, g.entered))
	for _, id := range []string{"b1", "b2", "b3"} {
		start(id, insertAs(id))
	}
	require.Eventually(t, func() bool { return lastQueued(s) == 4 }, 10*time.Second, time.Millisecond)
	g.verdict <- nil
	require.Equal(t, map[string]error{"a": nil}, wait(1))

	// Batch 2 (b1..b3) is held while work builds on it.
	require.Equal(t, []uint64{2, 3, 4}, recv(t, g.entered))
	start("c", insertAs("c"))
	require.Eventually(t, func() bool { return lastQueued(s) == 5 }, 10*time.Second, time.Millisecond)
	read := make(chan struct{})
	start("read", func(tx *Tx) error {
		defer close(read)
		_, err := c.Get(tx, "b1")
		return err
	})
	recv(t, read)
	inFn, finishFn := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { // so that a failing test does not hang in Close
		select {
		case <-finishFn:
		default:
			close(finishFn)
		}
	})
	start("d", func(tx *Tx) error {
		close(inFn)
		<-finishFn
		if _, err := c.Get(tx, "c"); err != nil {
			return err
		}
		return c.Insert(tx, mkUser("d", 0))
	})
	recv(t, inFn)

	g.verdict <- &os.PathError{Op: "write", Path: "wal", Err: syscall.ENOSPC}
	got := wait(4) // b1..b3, and c, which was queued behind them
	close(finishFn)
	for k, v := range wait(2) { // read, and d, whose function was running
		got[k] = v
	}
	var wrote []string
	for name, err := range got {
		requireDiskOutage(t, err, syscall.ENOSPC)
		switch name {
		case "b1", "b2", "b3":
			require.NotErrorIs(t, err, errReadFailedWrite, name)
			require.ErrorContains(t, err, "append transactions 2 to 4")
		default:
			require.ErrorIs(t, err, errReadFailedWrite, name)
		}
		wrote = append(wrote, name)
	}
	require.ElementsMatch(t, []string{"b1", "b2", "b3", "c", "read", "d"}, wrote)

	// The next batch starts on the durable state, numbered after it.
	start("e", insertAs("e"))
	require.Equal(t, []uint64{2}, recv(t, g.entered))
	g.verdict <- nil
	require.Equal(t, map[string]error{"e": nil}, wait(1))
	require.Equal(t, 2, count(t, s, c, "", ""))
	require.Equal(t, uint64(1), s.Stats().FailedAppends)
	require.Equal(t, uint64(2), s.Stats().Commits)

	require.NoError(t, s.Close())
	s, c = openUsers(t, dir, Options{})
	require.Equal(t, 2, count(t, s, c, "", ""))
	for _, id := range []string{"a", "e"} {
		_, err := get(t, s, c, id)
		require.NoError(t, err, id)
	}
}
