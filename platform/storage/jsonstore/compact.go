package jsonstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// Compaction steps, named for the test hook that simulates a crash after each.
const (
	stepLogSwitched     = "log-switched"     // new log created, no new snapshot yet
	stepSnapshotWritten = "snapshot-written" // temp snapshot fsynced, not renamed
	stepSnapshotRenamed = "snapshot-renamed" // snapshot in place, old files not removed
)

// compact writes a snapshot of the state at the current sequence number and
// drops the files it makes obsolete. Writers are held only while the log is
// switched; the snapshot is written from an immutable state in the background.
//
// A crash at any point leaves a dir that opens with every acknowledged write:
// before the rename the old snapshot and all logs are intact; after it the
// new snapshot covers the old logs, which replay skips by sequence number.
func (s *Store) compact() error {
	st, seq, err := s.switchLog()
	if err != nil {
		return err
	}
	if err := s.step(stepLogSwitched); err != nil {
		return err
	}

	final := filepath.Join(s.dir, snapName(seq))
	tmp := final + tmpSuffix
	if err := writeSnapshotFile(tmp, st, seq); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write snapshot %s: %w", snapName(seq), err)
	}
	if err := s.step(stepSnapshotWritten); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install snapshot %s: %w", snapName(seq), err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("install snapshot %s: sync dir: %w", snapName(seq), err)
	}
	s.compactions.Add(1)
	if err := s.step(stepSnapshotRenamed); err != nil {
		return err
	}

	snaps, wals, err := s.dirFiles()
	if err != nil {
		return fmt.Errorf("list data dir: %w", err)
	}
	var errs []error
	for _, n := range snaps {
		if n < seq {
			errs = append(errs, os.Remove(filepath.Join(s.dir, snapName(n))))
		}
	}
	for _, n := range wals {
		if n <= seq {
			errs = append(errs, os.Remove(filepath.Join(s.dir, walName(n))))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove obsolete files: %w", err)
	}
	s.log.Debug("jsonstore: compacted", zap.String("dir", s.dir), zap.Uint64("seq", seq))
	return syncDir(s.dir)
}

func (s *Store) step(name string) error {
	if s.opts.hook == nil {
		return nil
	}
	return s.opts.hook(name)
}

// switchLog flushes every queued commit and moves appends to a new log that
// starts after the current sequence number. It returns the state and the
// sequence number the snapshot must hold.
func (s *Store) switchLog() (*state, uint64, error) {
	s.wmu <- struct{}{}
	defer func() { <-s.wmu }()
	if err := s.flush(); err != nil {
		return nil, 0, err
	}
	seq := s.seq
	s.cmu.Lock()
	cut := s.cut
	s.cmu.Unlock()
	if cut != nil {
		// The current log still ends with a failed append that could not be
		// cut off: a new log after it would let a restart replay that
		// append in place of the records of the new log that reuse its
		// sequence numbers. The next append cuts it first.
		return nil, 0, fmt.Errorf("start log %s: the current log still holds a failed append: %w", walName(seq+1), cut)
	}
	f, err := createWAL(s.dir, seq+1)
	if err != nil {
		return nil, 0, fmt.Errorf("start log %s: %w", walName(seq+1), err)
	}
	s.cmu.Lock()
	old := s.wal
	s.wal = f
	s.walSize = 0
	s.cmu.Unlock()
	if err := old.Close(); err != nil {
		s.log.Warn("jsonstore: closing the previous log failed", zap.Error(err))
	}
	return s.latest, seq, nil
}

// writeSnapshotFile writes and fsyncs a snapshot at path.
func writeSnapshotFile(path string, st *state, seq uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := writeSnapshot(f, st, seq); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
