package runs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
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
	wsm     *workspace.Manager
	objects objects.Store
	repos   access.Repositories
	cfg     settings.Runs
	tuning  Tuning
	log     *zap.Logger
	hub     *logHub
	self    Instance

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
	Workspaces *workspace.Manager
	Objects    objects.Store
	Repos      access.Repositories
	Settings   *settings.Settings
	Tuning     Tuning
	Log        *zap.Logger
}

// NewWorker builds the worker with a fresh instance id. It does no I/O.
func NewWorker(p WorkerParams) *Worker {
	return &Worker{store: p.Store, queue: p.Queue, engine: p.Engine, wsm: p.Workspaces, objects: p.Objects,
		repos: p.Repos, cfg: p.Settings.Runs, tuning: p.Tuning, log: p.Log.Named("runs.worker"),
		hub: newLogHub(), self: Instance{ID: ids.New("ins")}, active: map[string]*activeRun{}}
}

// InstanceID is this process start's id, the label of its containers.
func (w *Worker) InstanceID() string { return w.self.ID }

// ActiveRuns returns how many runs this instance is working.
func (w *Worker) ActiveRuns() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.active)
}

// dispatch takes a run from the queue whenever a slot is free.
func (w *Worker) dispatch() {
	defer w.bg.Done()
	slots := make(chan struct{}, w.cfg.MaxConcurrent)
	for {
		select {
		case slots <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
		d, err := w.queue.Next(w.ctx)
		if err != nil {
			<-slots
			if w.ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
				return
			}
			w.log.Error("queue failed", zap.Error(err))
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
			w.execute(d)
		}()
	}
}

// execute claims one delivered run and works it to the end.
func (w *Worker) execute(d queue.Delivery) {
	ctx := w.ctx
	run, err := w.store.Update(ctx, d.RunID, func(r *Run) error {
		if r.Status != StatusQueued {
			return errNotQueued
		}
		r.Status, r.InstanceID = StatusPreparing, w.self.ID
		return nil
	})
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCallTimeout)
	if errors.Is(err, errNotQueued) || errors.Is(err, derrors.ErrNotFound) || err == nil {
		if aerr := d.Ack(ackCtx); aerr != nil {
			w.log.Warn("queue ack failed", zap.String("run_id", d.RunID), zap.Error(aerr))
		}
	}
	cancel()
	switch {
	case errors.Is(err, errNotQueued), errors.Is(err, derrors.ErrNotFound):
		return // canceled while queued, or taken already: nothing to do
	case err != nil:
		if ctx.Err() == nil {
			w.log.Error("claiming run failed; it stays queued", zap.String("run_id", d.RunID), zap.Error(err))
		}
		return
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
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
	w.finish(run.ID, out)
}

var errNotQueued = errors.New("run is not queued")

// outcome is how a run ended.
type outcome struct {
	status   Status
	exitCode *int
	message  string
}

// stopped is the outcome of a run whose context ended, by its cause.
func stopped(ctx context.Context) outcome {
	switch context.Cause(ctx) {
	case errCanceled:
		return outcome{status: StatusCanceled, message: msgCanceled}
	case errDeleted:
		return outcome{status: StatusCanceled, message: errDeleted.Error()}
	case errLost:
		return outcome{status: StatusInterrupted, message: errLost.Error()}
	}
	return outcome{status: StatusInterrupted, message: msgInterrupted}
}

func failed(format string, args ...any) outcome {
	return outcome{status: StatusFailed, message: fmt.Sprintf(format, args...)}
}

// work prepares the workspace, runs the container and keeps log and patch.
// Whatever happens, the container and the workspace are gone when it returns.
func (w *Worker) work(ctx context.Context, run *Run) outcome {
	log := w.log.With(zap.String("run_id", run.ID))
	bg := context.WithoutCancel(ctx)

	repo, err := w.repos.VisibleRepository(ctx, systemPrincipal, run.RepositoryID)
	switch {
	case ctx.Err() != nil:
		return stopped(ctx)
	case errors.Is(err, derrors.ErrNotFound):
		return failed("repository %s no longer exists", run.RepositoryID)
	case err != nil:
		log.Error("repository lookup failed", zap.Error(err))
		return failed("could not look the repository up")
	}

	refusal, err := w.repos.CheckURL(ctx, repo.URL)
	switch {
	case ctx.Err() != nil:
		return stopped(ctx)
	case err != nil:
		log.Error("checking the repository URL failed", zap.Error(err))
		return failed("could not check the repository URL")
	case refusal != "":
		log.Warn("repository URL refused at clone time", zap.String("reason", refusal))
		return failed("the repository URL is no longer allowed: %s", refusal)
	}
	ws, err := w.wsm.Prepare(ctx, run.ID, repo.URL, run.Branch)
	if err != nil {
		if ctx.Err() != nil {
			return stopped(ctx)
		}
		var ce *workspace.CloneError
		if errors.As(err, &ce) {
			log.Info("clone failed", zap.Error(err))
			return failed("%s", ce.Message())
		}
		log.Error("preparing workspace failed", zap.Error(err))
		return failed("could not prepare the workspace")
	}
	defer func() {
		if err := ws.Remove(); err != nil {
			log.Error("removing workspace failed", zap.Error(err))
		}
	}()
	if run.Branch == "" && ws.Branch() != "" {
		if r, err := w.update(run.ID, func(r *Run) error { r.Branch = ws.Branch(); return nil }); err == nil {
			run = r
		}
	}

	cid, err := w.engine.Start(ctx, w.spec(run, ws.TreeDir()))
	if err != nil {
		if ctx.Err() != nil {
			return stopped(ctx)
		}
		log.Error("starting container failed", zap.Error(err))
		switch {
		case errors.Is(err, containers.ErrImageNotFound):
			return failed("the agent image %q is not present on the docker host", w.cfg.Image)
		case errors.Is(err, derrors.ErrUnavailable):
			return failed("docker is unavailable: the agent container could not start")
		}
		return failed("the agent container could not start")
	}
	defer func() {
		rctx, cancel := context.WithTimeout(bg, dockerCallTimeout)
		defer cancel()
		if err := w.engine.Remove(rctx, cid); err != nil {
			log.Error("removing container failed", zap.String("container_id", cid), zap.Error(err))
		}
	}()

	started := nowUTC()
	if _, err := w.update(run.ID, func(r *Run) error {
		if !CanMove(r.Status, StatusRunning) {
			return errLost
		}
		r.Status, r.StartedAt, r.ContainerID = StatusRunning, &started, cid
		return nil
	}); err != nil {
		w.cancelRun(run.ID, causeOf(err))
	}

	lw := newLogWriter(run.ID, w.objects, log, w.tuning.FlushInterval, w.tuning.FlushBytes)
	w.hub.add(lw)
	defer w.hub.remove(run.ID)
	flushCtx, stopFlush := context.WithCancel(bg)
	flushDone := make(chan struct{})
	go func() { defer close(flushDone); lw.run(flushCtx) }()
	logsCtx, stopLogs := context.WithCancel(bg)
	defer stopLogs()
	pumpDone := make(chan struct{})
	if rc, err := w.engine.Logs(logsCtx, cid); err != nil {
		log.Warn("following container log failed", zap.Error(err))
		close(pumpDone)
	} else {
		go func() {
			defer close(pumpDone)
			defer rc.Close()
			_, _ = io.Copy(lw, rc)
		}()
	}

	out := w.wait(ctx, run, cid, log)

	// The log stream ends when the container has exited; a daemon that keeps
	// it open is cut after a short while.
	select {
	case <-pumpDone:
	case <-time.After(logDrainTimeout):
		stopLogs()
		<-pumpDone
	}
	stopFlush()
	<-flushDone
	w.flushAll(bg, lw)
	lw.close()

	if out.status != StatusInterrupted {
		if msg := w.keepPatch(bg, run.ID, ws, log); msg != "" && out.status == StatusSucceeded {
			out = failed("%s", msg)
		}
	}
	return out
}

// wait waits for the container within the run's timeout and stops it when
// the run is canceled, times out or the server stops.
func (w *Worker) wait(ctx context.Context, run *Run, cid string, log *zap.Logger) outcome {
	bg := context.WithoutCancel(ctx)
	waitCtx, cancel := context.WithTimeout(ctx, time.Duration(run.TimeoutSeconds)*time.Second)
	defer cancel()
	exit, err := w.engine.Wait(waitCtx, cid)
	var out outcome
	switch {
	case err == nil && exit.OOMKilled:
		code := exit.Code
		return outcome{status: StatusFailed, exitCode: &code,
			message: fmt.Sprintf("out of memory (limit %d MiB)", w.cfg.MemoryBytes>>20)}
	case err == nil && exit.Code == 0:
		code := 0
		return outcome{status: StatusSucceeded, exitCode: &code}
	case err == nil:
		code := exit.Code
		return outcome{status: StatusFailed, exitCode: &code, message: fmt.Sprintf("the agent exited with code %d", code)}
	case ctx.Err() != nil:
		out = stopped(ctx)
	case waitCtx.Err() != nil:
		out = outcome{status: StatusTimedOut, message: fmt.Sprintf("the run exceeded its timeout of %d seconds", run.TimeoutSeconds)}
	default:
		log.Error("waiting for container failed", zap.Error(err))
		out = failed("lost contact with docker while the agent ran")
	}
	sctx, cancelStop := context.WithTimeout(bg, w.grace()+dockerCallTimeout)
	defer cancelStop()
	if err := w.engine.Stop(sctx, cid, w.grace()); err != nil && !errors.Is(err, derrors.ErrNotFound) {
		log.Warn("stopping container failed; removing it", zap.Error(err))
	}
	return out
}

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
		lw.mu.Lock()
		left := len(lw.pending)
		lw.mu.Unlock()
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

// keepPatch stores the workspace's diff (empty when nothing changed) and
// returns a message when it could not.
func (w *Worker) keepPatch(ctx context.Context, runID string, ws *workspace.Workspace, log *zap.Logger) string {
	pctx, cancel := context.WithTimeout(ctx, patchTimeout)
	defer cancel()
	patch, err := ws.Patch(pctx)
	if errors.Is(err, workspace.ErrPatchTooLarge) {
		return fmt.Sprintf("the agent's changes exceed the patch limit of %d bytes", w.cfg.MaxPatchBytes)
	}
	if err != nil {
		log.Error("computing patch failed", zap.Error(err))
		return "the patch could not be computed"
	}
	if err := w.objects.Put(pctx, patchKey(runID), bytes.NewReader(patch)); err != nil {
		log.Error("storing patch failed", zap.Error(err))
		return "the patch could not be stored"
	}
	return ""
}

// finish records the outcome. A run deleted meanwhile has its objects removed.
func (w *Worker) finish(runID string, out outcome) {
	now := nowUTC()
	_, err := w.update(runID, func(r *Run) error {
		if !CanMove(r.Status, out.status) {
			return fmt.Errorf("%w: %s → %s", errIllegal, r.Status, out.status)
		}
		r.Status, r.ExitCode, r.Error, r.FinishedAt = out.status, out.exitCode, out.message, &now
		r.CancelRequested = false
		return nil
	})
	switch {
	case err == nil:
		w.log.Info("run finished", zap.String("run_id", runID), zap.String("status", string(out.status)))
	case errors.Is(err, derrors.ErrNotFound):
		ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
		defer cancel()
		if _, err := w.objects.DeletePrefix(ctx, objectPrefix(runID)); err != nil {
			w.log.Warn("removing objects of deleted run failed", zap.String("run_id", runID), zap.Error(err))
		}
	default:
		w.log.Error("recording run outcome failed", zap.String("run_id", runID), zap.Error(err))
	}
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
// argument), only the allow-listed variables of the server's environment,
// and the limits of the settings.
func (w *Worker) spec(run *Run, tree string) containers.Spec {
	env := map[string]string{}
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
