package runs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// Why a run's context ended, as its cause.
var (
	errCanceled = errors.New("canceled by request")
	errShutdown = errors.New("the server stopped while the run was active")
	errDeleted  = errors.New("the run was deleted")
	errLost     = errors.New("another instance took the run over")
)

// Error messages recorded on runs.
const (
	msgInterrupted = "the server stopped while the run was active"
	msgCanceled    = "canceled by request"
)

// Bounds of the worker's own housekeeping calls.
const (
	storeCallTimeout  = 10 * time.Second
	dockerCallTimeout = 30 * time.Second
	logDrainTimeout   = 5 * time.Second
	patchTimeout      = 2 * time.Minute
)

// Worker takes runs from the queue and works at most Runs.MaxConcurrent of
// them at once. Runs live on an app-lifetime context, never on a request's.
type Worker struct {
	store   Store
	queue   queue.Queue
	engine  containers.Engine
	egress  *egress.Gateway
	wsm     *workspace.Manager // nil on an API-only instance
	objects objects.Store
	repos   access.Repositories
	secrets access.Secrets
	cfg     settings.Runs
	tuning  Tuning
	log     *zap.Logger
	hub     *logHub
	self    Instance
	metrics metrics.Runs
	// fromTable is true on the postgres queue: runs are claimed from the
	// runs table, the queue only wakes the dispatcher.
	fromTable bool
	// requeues is true on the local queue: each process fills its own
	// from the records store, at start and at each heartbeat.
	requeues bool
	// nextQueueSweep is when sweepQueue may send again (heartbeat only).
	nextQueueSweep time.Time

	mu       sync.Mutex
	active   map[string]*activeRun
	started  bool
	stopping bool
	ctx      context.Context
	cancel   context.CancelCauseFunc
	deadline atomic.Pointer[time.Time] // of the stop, once stopping
	bg       sync.WaitGroup            // dispatcher and ticker
	runs     sync.WaitGroup            // executors
}

// activeRun is a run this instance is working.
type activeRun struct {
	id     string
	cancel context.CancelCauseFunc
}

// WorkerParams are the Worker's dependencies.
type WorkerParams struct {
	fx.In

	Store      Store
	Queue      queue.Queue
	Engine     containers.Engine
	Egress     *egress.Gateway
	Workspaces *workspace.Manager
	Objects    objects.Store
	Repos      access.Repositories
	Secrets    access.Secrets
	Settings   *settings.Settings
	Tuning     Tuning
	Log        *zap.Logger
	Metrics    metrics.Runs `optional:"true"`
}

// NewWorker builds the worker with a fresh instance id. It does no I/O.
func NewWorker(p WorkerParams) *Worker {
	return &Worker{store: p.Store, queue: p.Queue, engine: p.Engine, egress: p.Egress, wsm: p.Workspaces, objects: p.Objects,
		repos: p.Repos, secrets: p.Secrets, cfg: p.Settings.Runs, tuning: p.Tuning, log: p.Log.Named("runs.worker"),
		hub: newLogHub(), self: Instance{ID: ids.New(InstanceIDPrefix)}, active: map[string]*activeRun{},
		metrics:   orNop(p.Metrics),
		fromTable: p.Settings.QueueBackend() == queue.BackendPostgres,
		requeues:  p.Settings.QueueBackend() == queue.BackendLocal}
}

// InstanceID is this process start's id, the label of its containers.
func (w *Worker) InstanceID() string { return w.self.ID }

// ActiveRuns returns how many runs this instance is working.
func (w *Worker) ActiveRuns() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.active)
}

// dispatch claims a run whenever a slot is free, and only then: a worker
// holds no more runs than it can work, so the others get the rest.
func (w *Worker) dispatch() {
	defer w.bg.Done()
	slots := make(chan struct{}, w.cfg.MaxConcurrent)
	for {
		select {
		case slots <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
		run, err := w.claim()
		if err != nil {
			<-slots
			if w.ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
				return
			}
			w.log.Error("claiming a run failed", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-w.ctx.Done():
				return
			}
			continue
		}
		w.runs.Add(1)
		go func() {
			defer w.runs.Done()
			defer func() { <-slots }()
			w.execute(run)
		}()
	}
}

// claim blocks until this instance has claimed a run: the oldest queued
// one from the runs table (postgres queue), or the one a delivery names.
// On the postgres queue it looks in the table before it waits, since a
// wake-up may stand for many runs and a freed slot may find some waiting.
func (w *Worker) claim() (*Run, error) {
	for {
		if w.fromTable {
			run, err := w.store.ClaimNext(w.ctx, w.self.ID)
			if err != nil || run != nil {
				return run, err
			}
		}
		d, err := w.queue.Next(w.ctx)
		if err != nil {
			return nil, err
		}
		if d.RunID == "" {
			continue // a wake-up: claim from the table
		}
		run, err := w.claimDelivered(d)
		if err != nil || run != nil {
			return run, err
		}
	}
}

// claimDelivered claims the run a delivery names, if it is still queued,
// and acknowledges the delivery once that is settled (claimed, no longer
// queued, or no such run). A failed claim releases the delivery and
// returns the error; the run stays queued.
func (w *Worker) claimDelivered(d queue.Delivery) (*Run, error) {
	run, err := w.store.Update(w.ctx, d.RunID, func(r *Run) error {
		if r.Status != StatusQueued {
			return errNotQueued
		}
		r.Status, r.InstanceID = StatusPreparing, w.self.ID
		return nil
	})
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), storeCallTimeout)
	defer cancel()
	settled := err == nil || errors.Is(err, errNotQueued) || errors.Is(err, derrors.ErrNotFound)
	if !settled {
		if nerr := d.Nack(ackCtx); nerr != nil {
			w.log.Warn("queue release failed", zap.String("run_id", d.RunID), zap.Error(nerr))
		}
		return nil, fmt.Errorf("claim run %s: %w", d.RunID, err)
	}
	if aerr := d.Ack(ackCtx); aerr != nil {
		w.log.Warn("queue ack failed", zap.String("run_id", d.RunID), zap.Error(aerr))
	}
	if errors.Is(err, derrors.ErrNotFound) {
		// A poison message: its run was deleted, or never existed.
		w.log.Warn("dropped a queue message for a run that does not exist", zap.String("run_id", d.RunID))
	}
	return run, nil
}

// execute works a run this instance has claimed to the end.
func (w *Worker) execute(run *Run) {
	w.log.Info("run claimed", zap.String("run_id", run.ID),
		zap.Duration("queue_wait", time.Since(run.CreatedAt)))
	claimed := time.Now()
	w.metrics.RunClaimed(claimed.Sub(run.CreatedAt))
	runCtx, cancelRun := context.WithCancelCause(w.ctx)
	defer cancelRun(nil)
	w.mu.Lock()
	w.active[run.ID] = &activeRun{id: run.ID, cancel: cancelRun}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.active, run.ID)
		w.mu.Unlock()
	}()
	out := w.work(runCtx, run)
	if w.finish(run.ID, out) {
		w.metrics.RunFinished(string(out.status), time.Since(claimed))
	}
}

var errNotQueued = errors.New("run is not queued")

// grace is the stop grace period: the setting, shortened to fit the
// deadline of a server stop.
func (w *Worker) grace() time.Duration {
	g := w.cfg.StopGrace
	if d := w.deadline.Load(); d != nil {
		left := time.Until(*d) - 2*time.Second
		if left < g {
			g = max(left, 0)
		}
	}
	return g
}

// flushAll appends the rest of the log, retrying for a short while.
func (w *Worker) flushAll(ctx context.Context, lw *logWriter) {
	deadline := time.Now().Add(storeCallTimeout)
	for {
		fctx, cancel := context.WithDeadline(ctx, deadline)
		lw.flush(fctx)
		cancel()
		left := lw.unstored()
		if left == 0 || time.Now().After(deadline) {
			if left > 0 {
				w.log.Error("run log incomplete: the object store refused the last bytes",
					zap.String("run_id", lw.runID), zap.Int("bytes", left))
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finish records the outcome and reports whether it did. A run deleted
// meanwhile has its objects removed.
func (w *Worker) finish(runID string, out outcome) bool {
	now := nowUTC()
	_, err := w.update(runID, func(r *Run) error {
		if !CanMove(r.Status, out.status) {
			return fmt.Errorf("%w: %s → %s", errIllegal, r.Status, out.status)
		}
		r.Status, r.ExitCode, r.Error, r.FinishedAt = out.status, out.exitCode, out.message, &now
		r.Warnings = out.warnings
		r.CancelRequested, r.LogTruncated = false, out.logTruncated
		return nil
	})
	switch {
	case err == nil:
		w.log.Info("run finished", zap.String("run_id", runID), zap.String("status", string(out.status)))
		return true
	case errors.Is(err, derrors.ErrNotFound):
		ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
		defer cancel()
		if _, err := w.objects.DeletePrefix(ctx, objectPrefix(runID)); err != nil {
			w.log.Warn("removing objects of deleted run failed", zap.String("run_id", runID), zap.Error(err))
		}
	default:
		w.log.Error("recording run outcome failed", zap.String("run_id", runID), zap.Error(err))
	}
	return false
}

var errIllegal = errors.New("illegal status change")

// update changes a run with the worker's own deadline, whatever the run's
// context says: recording what happened must outlive a cancel.
func (w *Worker) update(id string, fn func(*Run) error) (*Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
	defer cancel()
	return w.store.Update(ctx, id, fn)
}

func causeOf(err error) error {
	if errors.Is(err, derrors.ErrNotFound) {
		return errDeleted
	}
	return errLost
}

// cancelRun ends an active run's context with cause.
func (w *Worker) cancelRun(id string, cause error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := w.active[id]; a != nil {
		a.cancel(cause)
		return true
	}
	return false
}

// requestCancel stops a run this instance works; other instances see the
// run's CancelRequested at their next heartbeat.
func (w *Worker) requestCancel(id string) { w.cancelRun(id, errCanceled) }

// spec is the container of a run: the image and command of the settings,
// the prompt as $SLIPWAY_PROMPT (and in place of a "$SLIPWAY_PROMPT"
// argument), the variables the project's secrets set (secretEnv), only
// the allow-listed variables of the server's environment, and the limits
// of the settings.
func (w *Worker) spec(run *Run, tree string, secretEnv map[string]string) containers.Spec {
	env := maps.Clone(secretEnv)
	if env == nil {
		env = map[string]string{}
	}
	for _, name := range w.cfg.EnvAllowlist {
		if v, ok := os.LookupEnv(name); ok {
			env[name] = v
		}
	}
	env["SLIPWAY_PROMPT"] = run.Prompt
	cmd := make([]string, len(w.cfg.Command))
	for i, a := range w.cfg.Command {
		if a == "$SLIPWAY_PROMPT" || a == "${SLIPWAY_PROMPT}" {
			a = run.Prompt
		}
		cmd[i] = a
	}
	return containers.Spec{
		Image:       w.cfg.Image,
		Cmd:         cmd,
		Env:         env,
		Workspace:   tree,
		RunID:       run.ID,
		InstanceID:  w.self.ID,
		User:        w.cfg.User,
		MemoryBytes: w.cfg.MemoryBytes,
		NanoCPUs:    int64(w.cfg.CPUs * 1e9),
		PidsLimit:   w.cfg.PidsLimit,
		NetworkMode: w.cfg.Network,
	}
}
