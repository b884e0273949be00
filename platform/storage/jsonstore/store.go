package jsonstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultCompactBytes is the log size past which the store writes a new
// snapshot and starts a fresh log, when Options.CompactBytes is zero.
const DefaultCompactBytes = 8 << 20

// The operations Options.Observe names.
const (
	OpView   = "view"
	OpUpdate = "update"
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store is closed")

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// Logger receives recovery and compaction events; nil discards them.
	Logger *zap.Logger
	// CompactBytes is the log size that triggers compaction: zero means
	// DefaultCompactBytes, a negative value disables compaction.
	CompactBytes int64
	// Observe, when set, is told how long each View (OpView) and Update
	// (OpUpdate) took, ctx waits included; the metrics module sets it.
	Observe func(op string, took time.Duration)

	// hook, set only by this package's tests, runs at each compaction step;
	// an error stops the compaction there, as a crash would. It also runs
	// before a failed append is cut off the log (stepLogCut), where an
	// error fails the cut as a disk refusing the truncate would.
	hook func(step string) error
	// syncHook, set only by this package's tests, runs in the group commit
	// leader before it writes and fsyncs a batch, without locks held: a
	// test that blocks it holds the batch in flight while committers queue.
	syncHook func()
	// writeLog, set only by this package's tests, stands in for appending
	// a batch to the log and fsyncing it, so a test can fail it the way a
	// full or failing disk does.
	writeLog func(f *os.File, buf []byte) error
}

// Stats are counters since Open. Commits/Syncs is the group commit factor.
type Stats struct {
	Commits     uint64 // transactions appended to the log
	Syncs       uint64 // fsyncs of the log that made commits durable
	Compactions uint64 // snapshots written
	LogBytes    int64  // size of the current log file
	// FailedAppends counts batches whose append failed: none of their
	// transactions was applied, and each was answered a disk outage.
	FailedAppends uint64
}

// Store is an open data dir. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *zap.Logger
	lock *os.File

	// wmu is the writer lock: held while a transaction function runs and its
	// record is queued. A channel so that waiting for it honours ctx.
	wmu        chan struct{}
	latest     *state // guarded by wmu: the state writers build on
	seq        uint64 // guarded by wmu: the last sequence number handed out
	wEpoch     *epoch // guarded by wmu: the epoch latest and seq belong to
	registered map[string]bool
	children   map[string][]childRef // guarded by wmu: parent collection → referencing indexes

	// published is the latest durable state, which View reads without locks.
	published atomic.Pointer[state]

	cmu      sync.Mutex // guards everything below
	cond     *sync.Cond // signalled when durable, epoch or err changes
	buf      []byte     // framed records not yet written
	spare    []byte
	bufSeq   uint64 // sequence number of the last record in buf
	bufState *state // state after bufSeq
	syncing  bool   // a committer is writing and fsyncing a batch
	durable  uint64 // the last sequence number that is on disk
	epoch    *epoch // the epoch queued records belong to; a failed append ends it
	err      error  // ErrClosed once closed
	wal      *os.File
	// cut is set while the log may hold bytes past walSize that a failed
	// append left and that could not be cut off yet: the next append (or
	// Close) cuts them first, and nothing is appended until that works.
	cut      error
	failures failureLog
	walSize  int64
	closed   atomic.Bool // set under cmu

	compacting    atomic.Bool
	bg            sync.WaitGroup
	commits       atomic.Uint64
	syncs         atomic.Uint64
	compactions   atomic.Uint64
	failedAppends atomic.Uint64
}

// Open opens the store in dir, creating dir (mode 0700) when missing, and
// takes the data dir's lock: a dir already open in this or another process
// gives an error matching ErrLocked. It loads the newest snapshot, replays
// the log after it, cuts off a torn tail left by a crash and removes files a
// crash during compaction left behind.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CompactBytes == 0 {
		opts.CompactBytes = DefaultCompactBytes
	}
	s := &Store{
		dir:        dir,
		opts:       opts,
		log:        opts.Logger,
		wmu:        make(chan struct{}, 1),
		registered: map[string]bool{},
		children:   map[string][]childRef{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.cond = sync.NewCond(&s.cmu)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open data dir %q: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open data dir %q: %w", dir, err)
	}
	return s, nil
}

// Dir returns the data dir.
func (s *Store) Dir() string { return s.dir }

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.cmu.Lock()
	size := s.walSize
	s.cmu.Unlock()
	return Stats{
		Commits:       s.commits.Load(),
		Syncs:         s.syncs.Load(),
		Compactions:   s.compactions.Load(),
		LogBytes:      size,
		FailedAppends: s.failedAppends.Load(),
	}
}

// Close waits for a running compaction, flushes queued commits, closes the
// log and releases the data dir's lock. Closing twice is a no-op.
func (s *Store) Close() error {
	s.cmu.Lock()
	if s.closed.Load() {
		s.cmu.Unlock()
		return nil
	}
	s.closed.Store(true)
	s.cmu.Unlock()

	s.bg.Wait()
	s.wmu <- struct{}{}
	defer func() { <-s.wmu }()
	err := s.flush()
	s.cmu.Lock()
	if s.cut != nil {
		// One more try, so that a restart cannot replay the failed append.
		var cerr error
		if s.wal, cerr = s.cutLog(s.wal, s.walSize); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cut a failed append off the log: %w", cerr))
		}
	}
	if cerr := s.wal.Close(); err == nil {
		err = cerr
	}
	if s.err == nil {
		s.err = ErrClosed
	}
	s.cmu.Unlock()
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close data dir %q: %w", s.dir, err)
	}
	return nil
}

// View runs fn on a consistent snapshot of the durable state. Views never
// block each other nor writers.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if s.opts.Observe == nil {
		return s.view(ctx, fn)
	}
	start := time.Now()
	err := s.view(ctx, fn)
	s.opts.Observe(OpView, time.Since(start))
	return err
}

func (s *Store) view(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	tx := &Tx{s: s, base: s.published.Load()}
	defer func() { tx.done = true }()
	return fn(tx)
}

// Update runs fn as the only writer; its reads see its own writes. When fn
// returns an error (or ctx ends before the commit) nothing is applied and
// the error is returned. Otherwise all writes of fn are appended to the log
// as one record, and Update returns once that record is fsynced: an
// acknowledged Update survives a crash. Concurrent committers share fsyncs.
//
// When the append fails (a full disk, an I/O error) nothing of fn is
// applied either, and the error is a retryable outage of the "disk" service
// (derrors.Unavailable): the store cuts the failed append off the log and
// the next Update tries again, so writes succeed as soon as the disk
// accepts them.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if s.opts.Observe == nil {
		return s.update(ctx, fn)
	}
	start := time.Now()
	err := s.update(ctx, fn)
	s.opts.Observe(OpUpdate, time.Since(start))
	return err
}

func (s *Store) update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	held := true
	release := func() {
		if held {
			held = false
			<-s.wmu
		}
	}
	defer release()
	if s.closed.Load() {
		return ErrClosed
	}
	s.cmu.Lock()
	ep := s.writerEpoch()
	s.cmu.Unlock()

	tx := &Tx{s: s, write: true, base: s.latest}
	defer func() { tx.done = true }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(tx.ops) == 0 {
		// Nothing to log, but what fn read may not be durable yet.
		seq := s.seq
		release()
		return s.waitDurable(ep, seq, false)
	}

	seq := s.seq + 1
	s.cmu.Lock()
	if s.epoch != ep {
		// The append of records fn read failed while fn ran: its writes
		// were computed from a state that will never exist.
		s.writerEpoch()
		s.cmu.Unlock()
		return ep.readErr
	}
	var err error
	s.buf, err = appendRecord(s.buf, seq, tx.ops)
	if err == nil {
		s.seq = seq
		s.latest = tx.result()
		s.bufSeq = seq
		s.bufState = s.latest
	}
	s.cmu.Unlock()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	tx.done = true
	release()
	return s.waitDurable(ep, seq, true)
}

// flush, with wmu held, returns once every queued transaction is durable,
// or the error of the append that failed.
func (s *Store) flush() error {
	s.cmu.Lock()
	ep := s.writerEpoch()
	seq := s.seq
	s.cmu.Unlock()
	return s.waitDurable(ep, seq, true)
}

// waitDurable returns once transaction seq of epoch ep is on disk, or what
// it gets when an append fails first (see epoch.outcome; own says whether
// the caller wrote record seq or only read it). The first waiter that finds
// no write in progress becomes the leader: it writes every queued record
// with one write and one fsync, while later committers queue behind it and
// are made durable by the next leader together (group commit).
func (s *Store) waitDurable(ep *epoch, seq uint64, own bool) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for {
		if ep.failed {
			return ep.outcome(seq, own)
		}
		// An epoch that has not failed is the current one, so seq and
		// durable count the same transactions.
		if s.durable >= seq {
			return nil
		}
		if s.err != nil {
			return s.err
		}
		if s.syncing {
			s.cond.Wait()
			continue
		}
		s.appendBatch()
	}
}

// appendBatch, called by the leader with cmu held and records queued,
// appends them to the log with one write and one fsync, releasing cmu for
// the I/O. On success their state is published; on failure the failed
// append is cut off the log and the epoch ends (see endEpoch).
func (s *Store) appendBatch() {
	s.syncing = true
	buf, from, upto, st := s.buf, s.durable, s.bufSeq, s.bufState
	f, size, cut := s.wal, s.walSize, s.cut
	s.buf, s.spare = s.spare[:0], nil
	s.cmu.Unlock()
	if s.opts.syncHook != nil {
		s.opts.syncHook()
	}

	var err, cutErr error
	if cut != nil {
		// An earlier failed append is still in the log: nothing may be
		// appended after it, or a restart would stop there.
		f, cutErr = s.cutLog(f, size)
		err = cutErr
	}
	if err == nil {
		if err = s.writeLog(f, buf); err != nil {
			f, cutErr = s.cutLog(f, size)
		}
	}

	s.cmu.Lock()
	s.syncing = false
	s.wal, s.cut = f, cutErr
	if cap(buf) <= 4<<20 {
		s.spare = buf[:0]
	}
	if err != nil {
		s.endEpoch(from, upto, f, err)
		return
	}
	s.failures.recovered(s)
	s.walSize += int64(len(buf))
	s.commits.Add(upto - s.durable)
	s.syncs.Add(1)
	s.published.Store(st)
	s.durable = upto
	s.cond.Broadcast()
	s.maybeCompact()
}

func (s *Store) writeLog(f *os.File, buf []byte) error {
	if s.opts.writeLog != nil {
		return s.opts.writeLog(f, buf)
	}
	return writeAndSync(f, buf)
}

// maybeCompact starts a compaction when the log has grown past the
// threshold. Called with cmu held.
func (s *Store) maybeCompact() {
	if s.opts.CompactBytes < 0 || s.walSize < s.opts.CompactBytes || s.closed.Load() {
		return
	}
	if !s.compacting.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.compacting.Store(false)
		if err := s.compact(); err != nil {
			s.log.Error("jsonstore: compaction failed; the log keeps growing until the next attempt",
				zap.String("dir", s.dir), zap.Error(err))
		}
	}()
}

// register installs a collection's indexes, built by build from the
// collection's current documents, in both the latest and the published state.
func (s *Store) register(name string, build func(old *collState) (*collState, error)) error {
	s.wmu <- struct{}{}
	defer func() { <-s.wmu }()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.registered[name] {
		return fmt.Errorf("collection %q is already registered", name)
	}
	// With wmu held and everything durable, latest and published are the same
	// state and no committer is in flight, so both can be replaced at once.
	if err := s.flush(); err != nil {
		return err
	}
	old := s.latest.colls[name]
	if old == nil {
		old = &collState{}
	}
	cs, err := build(old)
	if err != nil {
		return err
	}
	st := &state{colls: maps.Clone(s.latest.colls)}
	if st.colls == nil {
		st.colls = map[string]*collState{}
	}
	st.colls[name] = cs
	s.latest = st
	s.cmu.Lock()
	s.bufState = st
	s.published.Store(st)
	s.cmu.Unlock()
	s.registered[name] = true
	for i, ix := range cs.meta.indexes {
		if ix.references != "" {
			s.children[ix.references] = append(s.children[ix.references], childRef{meta: cs.meta, index: i})
		}
	}
	return nil
}

// LockedError reports a data dir held by another open Store. It matches
// ErrLocked with errors.Is.
type LockedError struct {
	Dir string
	PID int // 0 when the holder has not written its pid yet
}

// ErrLocked means the data dir is in use by another Store.
var ErrLocked = errors.New("data dir is locked")

func (e *LockedError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("data dir %q is already in use by another slipway process", e.Dir)
	case e.PID == os.Getpid():
		return fmt.Sprintf("data dir %q is already open in this slipway process (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("data dir %q is already in use by another slipway process (pid %d)", e.Dir, e.PID)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lockDir takes an exclusive flock on dir/LOCK and writes our pid into it.
// flock locks belong to the open file, so a second Open in the same process
// conflicts too, and the kernel drops the lock when the process dies.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data dir %q: lock: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("open data dir %q: lock: %w", dir, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open data dir %q: write pid to lock: %w", dir, err)
	}
	return f, nil
}

// File names inside the data dir. Sequence numbers are zero padded so that
// names sort in sequence order.
const (
	snapPrefix = "snap-"
	snapSuffix = ".json"
	walPrefix  = "wal-"
	walSuffix  = ".log"
	tmpSuffix  = ".tmp"
)

func snapName(seq uint64) string  { return fmt.Sprintf("%s%020d%s", snapPrefix, seq, snapSuffix) }
func walName(start uint64) string { return fmt.Sprintf("%s%020d%s", walPrefix, start, walSuffix) }

func parseSeqName(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(name[len(prefix):len(name)-len(suffix)], 10, 64)
	return n, err == nil
}

// dirFiles lists the snapshots and logs of the data dir, sorted by sequence
// number, removing temporary files an interrupted compaction left behind.
func (s *Store) dirFiles() (snaps, wals []uint64, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return nil, nil, err
			}
			s.log.Info("jsonstore: removed temporary file of an interrupted compaction",
				zap.String("dir", s.dir), zap.String("file", name))
			continue
		}
		if n, ok := parseSeqName(name, snapPrefix, snapSuffix); ok {
			snaps = append(snaps, n)
		}
		if n, ok := parseSeqName(name, walPrefix, walSuffix); ok {
			wals = append(wals, n)
		}
	}
	slices.Sort(snaps)
	slices.Sort(wals)
	return snaps, wals, nil
}

// load rebuilds the state from the newest snapshot and the logs after it.
func (s *Store) load() error {
	snaps, wals, err := s.dirFiles()
	if err != nil {
		return err
	}
	st := &state{colls: map[string]*collState{}}
	var snapSeq uint64
	if len(snaps) > 0 {
		snapSeq = snaps[len(snaps)-1]
		loaded, seq, err := readSnapshot(filepath.Join(s.dir, snapName(snapSeq)))
		if err != nil {
			return fmt.Errorf("load snapshot %s: %w", snapName(snapSeq), err)
		}
		if seq != snapSeq {
			return fmt.Errorf("load snapshot %s: it holds sequence %d", snapName(snapSeq), seq)
		}
		st = loaded
	}

	// Replay: every record after the snapshot, in order and without gaps.
	last := snapSeq
	var curStart uint64
	curEnd := uint64(0) // one past the last sequence number in the current file
	obsolete := []string{}
	for i, start := range wals {
		name := walName(start)
		path := filepath.Join(s.dir, name)
		next := start
		sc, err := readWAL(path, func(rec walRecord) error {
			if rec.Seq != next {
				return fmt.Errorf("record %d of %s has sequence %d", next-start, name, rec.Seq)
			}
			next++
			if rec.Seq <= last {
				return nil // already in the snapshot
			}
			if rec.Seq != last+1 {
				return fmt.Errorf("transactions %d to %d are missing before %s", last+1, rec.Seq-1, name)
			}
			for _, o := range rec.Ops {
				if !validName(o.C) || !validName(o.ID) || (!o.D && len(o.V) == 0) {
					return fmt.Errorf("record %d of %s has a malformed write", rec.Seq, name)
				}
				w := op{coll: o.C, id: o.ID, raw: o.V}
				if o.D {
					w.raw = nil
				}
				st.applyRaw(w)
			}
			last = rec.Seq
			return nil
		})
		if err != nil {
			return fmt.Errorf("replay %s: %w", name, err)
		}
		if sc.end < sc.size {
			if err := truncateFile(path, sc.end); err != nil {
				return fmt.Errorf("truncate torn tail of %s: %w", name, err)
			}
			s.log.Warn("jsonstore: dropped the torn tail of the log (a crash interrupted an append; no acknowledged write is lost)",
				zap.String("dir", s.dir), zap.String("file", name),
				zap.Int64("dropped_bytes", sc.size-sc.end), zap.Int64("kept_bytes", sc.end),
				zap.Int("kept_records", sc.records), zap.String("reason", sc.reason))
		}
		if i+1 < len(wals) && wals[i+1] <= snapSeq+1 {
			obsolete = append(obsolete, name)
		}
		curStart, curEnd = start, next
	}

	// Append to the last log when it ends where the state ends; otherwise
	// (a fresh dir, or a last log the snapshot already covers) start a new one.
	var wal *os.File
	if len(wals) > 0 && curEnd == last+1 {
		wal, err = os.OpenFile(filepath.Join(s.dir, walName(curStart)), os.O_WRONLY|os.O_APPEND, 0o600)
	} else {
		wal, err = createWAL(s.dir, last+1)
	}
	if err != nil {
		return err
	}
	fi, err := wal.Stat()
	if err != nil {
		wal.Close()
		return err
	}

	for _, n := range snaps[:max(len(snaps)-1, 0)] {
		obsolete = append(obsolete, snapName(n))
	}
	for _, name := range obsolete {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("jsonstore: could not remove an obsolete file", zap.String("file", name), zap.Error(err))
		}
	}

	s.latest = st
	s.seq = last
	s.epoch = &epoch{}
	s.wEpoch = s.epoch
	s.durable = last
	s.bufSeq = last
	s.bufState = st
	s.published.Store(st)
	s.wal = wal
	s.walSize = fi.Size()
	s.log.Debug("jsonstore: opened", zap.String("dir", s.dir), zap.Uint64("snapshot_seq", snapSeq),
		zap.Uint64("seq", last), zap.Int("collections", len(st.colls)))
	return nil
}

// createWAL creates the log whose first record will be start and makes its
// directory entry durable.
func createWAL(dir string, start uint64) (*os.File, error) {
	path := filepath.Join(dir, walName(start))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		// Remove it, or the next attempt at the same sequence number (a
		// compaction retried on a disk that is still full) would fail
		// with "file exists" for ever.
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// truncateFile cuts path to size and makes the cut durable before anything
// is appended after it.
func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes renames, creations and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
