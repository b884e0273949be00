package jsonstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// diskService names the disk in the outage errors of a failed append
// (derrors.UnavailableError.Service), which clients see as details.service
// of a 503.
const diskService = "disk"

// stepLogCut is the hook step run before a failed append is cut off the log.
const stepLogCut = "log-cut"

// errReadFailedWrite is the cause of the error a transaction gets when it
// read records whose append then failed.
var errReadFailedWrite = errors.New("the transaction read writes that did not reach the log")

// epoch is a run of transactions numbered on top of one another. Writers
// build each transaction on the state after the last one queued, durable or
// not, so that committers need not wait for each other's fsync. A failed
// append therefore ends the epoch: the failed batch is not applied, nor is
// any transaction built on it, and writers start a new epoch on the durable
// state, numbering on from its last transaction (the numbers of the dropped
// ones are reused; they are in no log).
type epoch struct {
	// Set once, under cmu, by the append that ends the epoch.
	failed   bool
	durable  uint64 // the last durable transaction at the failure
	batchEnd uint64 // the last transaction of the failed batch
	err      error  // what the transactions of the failed batch get
	readErr  error  // what the transactions built on them get
}

// outcome is what transaction seq of an ended epoch gets: nil when it was
// durable before the failure; the failed append's error when own (the
// caller wrote record seq) and it was in that append; otherwise (it was
// queued behind the append, or only read its records) an error saying it
// read writes that did not reach the log. All are retryable disk outages.
func (e *epoch) outcome(seq uint64, own bool) error {
	switch {
	case seq <= e.durable:
		return nil
	case own && seq <= e.batchEnd:
		return e.err
	default:
		return e.readErr
	}
}

// writerEpoch, with wmu and cmu held, moves the writer onto the current
// epoch and returns it: after a failed append, the state writers built on
// is dropped for the durable one.
func (s *Store) writerEpoch() *epoch {
	if s.wEpoch != s.epoch {
		s.latest = s.published.Load()
		s.seq = s.durable
		s.wEpoch = s.epoch
	}
	return s.epoch
}

// endEpoch, with cmu held, fails the batch of transactions from+1 to upto
// whose append to f failed with err, and with it every transaction queued
// behind it, then starts a new epoch on the durable state.
func (s *Store) endEpoch(from, upto uint64, f *os.File, err error) {
	cause := fmt.Errorf("append transactions %d to %d to %s: %w", from+1, upto, filepath.Base(f.Name()), err)
	ep := s.epoch
	ep.failed = true
	ep.durable = from
	ep.batchEnd = upto
	ep.err = derrors.Unavailable(diskService, cause)
	ep.readErr = derrors.Unavailable(diskService, fmt.Errorf("%w: %w", errReadFailedWrite, cause))
	s.epoch = &epoch{}
	s.buf = s.buf[:0]
	s.bufSeq = s.durable
	s.bufState = s.published.Load()
	s.failedAppends.Add(1)
	s.failures.failed(s, cause, upto-from)
	s.cond.Broadcast()
}

// cutLog cuts the log f back to size, the end of its last durable record,
// after a failed append, and returns the file to append to from then on (f
// itself when the cut fails).
//
// After a failed write or fsync nothing is known of the bytes past size:
// none, some or all of the batch may be in the page cache, on disk, or
// both. After a failed fsync Linux may have dropped the dirty pages or
// marked them clean, and reports the error once: a second fsync can succeed
// without writing anything, so retrying it proves nothing. Leaving those
// bytes is not safe either: a restart would replay a batch whose
// transactions were answered as failed (when it reached the disk whole), or
// stop at its torn frame and drop every acknowledged record appended after
// it. So the log is opened afresh (a descriptor with no error state of its
// own), truncated to size and fsynced, which drops whatever the batch left,
// in the cache and on disk; every byte before size was fsynced before its
// transaction was acknowledged. Rewriting the log from the in-memory state
// would be as safe, but needs space, which is what a full disk lacks, while
// a truncate gives space back.
func (s *Store) cutLog(f *os.File, size int64) (*os.File, error) {
	if err := s.step(stepLogCut); err != nil {
		return f, err
	}
	nf, err := os.OpenFile(f.Name(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return f, err
	}
	if err := nf.Truncate(size); err != nil {
		nf.Close()
		return f, err
	}
	if err := nf.Sync(); err != nil {
		nf.Close()
		return f, err
	}
	_ = f.Close() // its error is the failed append's, already handled
	return nf, nil
}

// failureLog logs a run of failed appends once when it starts and once when
// appends succeed again, rather than once per failed batch: a full disk
// under load fails many batches a second. Guarded by cmu.
type failureLog struct {
	since   time.Time
	batches int
	txs     uint64
}

func (l *failureLog) failed(s *Store, cause error, txs uint64) {
	if l.batches == 0 {
		l.since = time.Now()
		s.log.Error("jsonstore: the disk refused a log append; writes answer a retryable disk outage until it accepts them again, reads go on",
			zap.String("dir", s.dir), zap.Uint64("transactions", txs), zap.Error(cause),
			zap.NamedError("cut_error", s.cut))
	} else {
		s.log.Debug("jsonstore: log append failed", zap.String("dir", s.dir), zap.Error(cause),
			zap.NamedError("cut_error", s.cut))
	}
	l.batches++
	l.txs += txs
}

func (l *failureLog) recovered(s *Store) {
	if l.batches == 0 {
		return
	}
	s.log.Info("jsonstore: log appends succeed again",
		zap.String("dir", s.dir), zap.Duration("after", time.Since(l.since)),
		zap.Int("failed_batches", l.batches), zap.Uint64("failed_transactions", l.txs))
	*l = failureLog{}
}
