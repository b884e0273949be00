package runs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/mask"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// work takes a claimed run through its steps and returns how it ended.
// Whatever happens, the container and the workspace are gone when it
// returns.
func (w *Worker) work(ctx context.Context, run *Run) (out outcome) {
	x := &execution{w: w, run: run, log: w.log.With(zap.String("run_id", run.ID))}
	defer func() {
		if !x.cleanUp(context.WithoutCancel(ctx)) && out.status != StatusSucceeded {
			out.message += "; its container could not be removed and waits for an operator's clean-up"
		}
	}()
	steps := []func(context.Context) error{x.checkRepository, x.prepareWorkspace, x.readSecrets, x.openEgress, x.startContainer, x.markRunning}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return x.decide(ctx, err, ending{})
		}
	}
	pump := x.pumpLog(context.WithoutCancel(ctx))
	x.logEgress(pump.lw)
	end := x.waitContainer(ctx)
	x.stopEgress(context.WithoutCancel(ctx))
	x.drainLog(context.WithoutCancel(ctx), pump)
	return x.withLog(x.decide(ctx, nil, end), pump.lw)
}

// withLog adds what became of the run's log to its outcome: a truncated log
// is recorded (and warned of), and a success whose log the store did not
// take whole has failed.
func (x *execution) withLog(out outcome, lw *logWriter) outcome {
	if n := lw.unstored(); n > 0 && out.status == StatusSucceeded {
		out.status, out.message = StatusFailed, fmt.Sprintf("the object store did not take the last %d bytes of the run's log", n)
	}
	if out.logTruncated = lw.wasTruncated(); out.logTruncated {
		out.warnings = append(out.warnings, fmt.Sprintf(
			"the log reached runs.max_log_bytes (%d bytes): the agent's further output was discarded", x.w.cfg.MaxLogBytes))
	}
	return out
}

// execution is one run on its way through work's steps: each step leaves
// here what the next needs, and cleanUp removes what they made.
type execution struct {
	w    *Worker
	run  *Run
	log  *zap.Logger
	repo access.Repository
	// addrs are those the URL policy checked for the repository's host:
	// the clone connects to no others.
	addrs []netip.Addr
	ws    *workspace.Workspace // once prepared
	cid   string               // the container, once started

	secrets  []access.Secret   // the project's, decrypted at container start
	masker   *mask.Masker      // hides their values in the log and the egress lines
	env      map[string]string // what they add to the container's environment
	warnings []string          // recorded on the run
	out      io.ReadCloser     // the container's output, attached before it started

	egress       *egress.Path  // the run's way out, with runs.network allowlist
	egressLogged chan struct{} // closed when its decisions are in the log
}

// failure is a step's reason to fail the run, written for the user; the
// step has logged whatever cause the user must not see.
type failure string

func (f failure) Error() string { return string(f) }

func fail(format string, args ...any) error { return failure(fmt.Sprintf(format, args...)) }

// outcome is how a run ended.
type outcome struct {
	status       Status
	exitCode     *int
	message      string
	warnings     []string
	logTruncated bool
}

// ending is how waiting for the agent's container ended.
type ending struct {
	exit     containers.Exit // when err is nil: the container exited
	err      error
	stopped  bool // the run's context ended the wait
	timedOut bool // the run's timeout ended the wait
	// running is set when the container could not be confirmed stopped:
	// the agent may still be writing to the workspace.
	running bool
	// limit is the workspace limit that made the worker stop the agent.
	limit *workspace.LimitError
}

// decide is where a run's outcome is made: by the step that failed (err),
// else by how its container ended. A run whose context ended (canceled,
// deleted, taken over, the server stopping) says why, unless its container
// had exited. A run whose container ran keeps its patch unless the run was
// interrupted, and a success whose patch could not be kept has failed. A
// patch is only read from a workspace whose container is confirmed stopped:
// a run whose container may still run fails without one.
func (x *execution) decide(ctx context.Context, err error, end ending) outcome {
	var out outcome
	var f failure
	switch {
	case err == nil && end.running:
		return failed("the agent's container could not be stopped, so the run keeps no patch")
	case err == nil && end.limit != nil:
		return failed("%s", limitMessage(end.limit))
	case err == nil && end.err == nil:
		out = x.exited(end.exit)
	case err == nil && end.stopped, errors.Is(err, context.Canceled):
		out = stopped(ctx)
	case errors.As(err, &f):
		return failed("%s", f)
	case err != nil:
		x.log.Error("run step failed", zap.Error(err))
		return failed("the run failed")
	case end.timedOut:
		out = outcome{status: StatusTimedOut, message: fmt.Sprintf("the run exceeded its timeout of %d seconds", x.run.TimeoutSeconds)}
	default:
		out = failed("lost contact with docker while the agent ran")
	}
	if err != nil || out.status == StatusInterrupted {
		return out // no container ran, or the server is going: no patch
	}
	// Past a limit, the run has failed whatever the agent said, and its
	// workspace is not worth a patch.
	if le := x.workspaceLimit(context.WithoutCancel(ctx)); le != nil {
		return failed("%s", limitMessage(le))
	}
	if msg := x.collectPatch(context.WithoutCancel(ctx)); msg != "" && out.status == StatusSucceeded {
		out = failed("%s", msg)
	}
	out.warnings = x.warnings
	return out
}

// workspaceLimit measures the workspace once the agent is gone and returns
// the limit it passed, if any.
func (x *execution) workspaceLimit(bg context.Context) *workspace.LimitError {
	mctx, cancel := context.WithTimeout(bg, patchTimeout)
	defer cancel()
	_, le, err := x.ws.Measure(mctx)
	if err != nil {
		x.log.Error("measuring the workspace failed", zap.Error(err))
	}
	return le
}

// limitMessage names the setting behind a workspace limit.
func limitMessage(le *workspace.LimitError) string {
	switch le.Limit {
	case workspace.LimitFiles:
		return fmt.Sprintf("the workspace grew past runs.max_workspace_files (%d files)", le.Max)
	case workspace.LimitDepth, workspace.LimitEntries:
		// A walk measuring the workspace stopped at a tree limit.
		return treeLimitMessage("the workspace", &workspace.TreeLimitError{Limit: le.Limit, Max: int(le.Max)})
	}
	return fmt.Sprintf("the workspace grew past runs.max_workspace_bytes (%s)", humanBytes(le.Max))
}

// humanBytes writes n in the largest binary unit it fills, such as "2 GiB"
// or "1.5 MiB".
func humanBytes(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " " + units[i]
}

// exited is the outcome of a container that exited by itself.
func (x *execution) exited(exit containers.Exit) outcome {
	code := exit.Code
	switch {
	case exit.OOMKilled:
		return outcome{status: StatusFailed, exitCode: &code,
			message: fmt.Sprintf("out of memory (limit %d MiB)", x.w.cfg.MemoryBytes>>20)}
	case code == 0:
		return outcome{status: StatusSucceeded, exitCode: &code}
	}
	return outcome{status: StatusFailed, exitCode: &code, message: fmt.Sprintf("the agent exited with code %d", code)}
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
	case errLogStore:
		return failed("the object store kept failing, so the agent's output could not be recorded: the agent was stopped")
	}
	return outcome{status: StatusInterrupted, message: msgInterrupted}
}

func failed(format string, args ...any) outcome {
	return outcome{status: StatusFailed, message: fmt.Sprintf(format, args...)}
}

// checkRepository looks the run's repository up and applies the URL policy
// to it again: its host may resolve elsewhere than when it was registered.
func (x *execution) checkRepository(ctx context.Context) error {
	repo, err := x.w.repos.VisibleRepository(ctx, systemPrincipal, x.run.RepositoryID)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, derrors.ErrNotFound):
		return fail("repository %s no longer exists", x.run.RepositoryID)
	case err != nil:
		x.log.Error("repository lookup failed", zap.Error(err))
		return fail("could not look the repository up")
	}
	check, err := x.w.repos.CheckURL(ctx, repo.URL)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		x.log.Error("checking the repository URL failed", zap.Error(err))
		return fail("could not check the repository URL")
	case check.Refusal != "":
		x.log.Warn("repository URL refused at clone time", zap.String("reason", check.Refusal))
		return fail("the repository URL is no longer allowed: %s", check.Refusal)
	}
	x.repo, x.addrs = repo, check.Addrs
	return nil
}

// prepareWorkspace clones the run's branch into a new workspace, and records
// the branch the clone found when the run named none.
func (x *execution) prepareWorkspace(ctx context.Context) error {
	ws, err := x.w.wsm.Prepare(ctx, x.run.ID, x.repo.URL, x.run.Branch, workspace.Pin(x.addrs...))
	var ce *workspace.CloneError
	var le *workspace.LimitError
	switch {
	case ctx.Err() != nil && err != nil:
		return ctx.Err()
	case errors.As(err, &ce) && errors.As(err, &le):
		x.log.Info("clone too large", zap.Error(err))
		return fail("%s: %s", ce.Message(), limitMessage(le))
	case errors.Is(err, workspace.ErrNoRoom):
		x.log.Error("no disk space for another workspace", zap.String("dir", x.w.wsm.Root()), zap.Error(err))
		return fail("the server has no disk space for another workspace; try again later")
	case errors.As(err, &ce):
		// Output may quote the remote: for the log, never for the user.
		x.log.Info("clone failed", zap.Error(err), zap.String("git_output", ce.Output))
		return failure(ce.Message())
	case errors.Is(err, workspace.ErrTreeLimit):
		x.log.Info("repository tree over the limits", zap.Error(err))
		return failure(treeLimitMessage("the repository's tree", err))
	case err != nil:
		x.log.Error("preparing workspace failed", zap.Error(err))
		return fail("could not prepare the workspace")
	}
	x.ws = ws
	if x.run.Branch == "" && ws.Branch() != "" {
		if r, err := x.w.update(x.run.ID, func(r *Run) error { r.Branch = ws.Branch(); return nil }); err == nil {
			x.run = r
		}
	}
	return nil
}

// startContainer starts the agent's container on the workspace, its output
// attached from the first byte.
func (x *execution) startContainer(ctx context.Context) error {
	cid, out, err := x.w.engine.StartAttached(ctx, x.withEgress(x.w.spec(x.run, x.ws.TreeDir(), x.env)))
	switch {
	case ctx.Err() != nil && err != nil:
		return ctx.Err()
	case err != nil:
		x.log.Error("starting container failed", zap.Error(err))
		switch {
		case errors.Is(err, containers.ErrImageNotFound):
			return fail("the agent image %q is not present on the docker host", x.w.cfg.Image)
		case errors.Is(err, derrors.ErrUnavailable):
			return fail("docker is unavailable: the agent container could not start")
		}
		return fail("the agent container could not start")
	}
	x.cid, x.out = cid, out
	return nil
}

// markRunning records the run as running in its container; a run deleted
// or taken over meanwhile is stopped, which waitContainer then sees.
func (x *execution) markRunning(context.Context) error {
	started := nowUTC()
	if _, err := x.w.update(x.run.ID, func(r *Run) error {
		if !CanMove(r.Status, StatusRunning) {
			return errLost
		}
		r.Status, r.StartedAt, r.ContainerID = StatusRunning, &started, x.cid
		return nil
	}); err != nil {
		x.w.cancelRun(x.run.ID, causeOf(err))
	}
	return nil
}

// logPump carries a container's output into its run's log writer.
type logPump struct {
	lw                  *logWriter
	stopLogs, stopFlush context.CancelFunc
	pumped, flushed     chan struct{}
}

// pumpLog copies the container's output into a log writer that appends it
// to the object store in batches and lets the followers on this instance
// read it at once. A writer that gives up on the store stops the run.
func (x *execution) pumpLog(bg context.Context) *logPump {
	limits := logLimits{every: x.w.tuning.FlushInterval, batch: x.w.tuning.FlushBytes, maxPending: x.w.tuning.MaxPendingLog,
		maxBytes: x.w.cfg.MaxLogBytes, failAfter: x.w.tuning.LogStoreFailAfter}
	p := &logPump{lw: newLogWriter(x.run.ID, x.w.objects, x.log, limits),
		pumped: make(chan struct{}), flushed: make(chan struct{})}
	x.w.hub.add(p.lw)
	var flushCtx context.Context
	flushCtx, p.stopFlush = context.WithCancel(bg)
	go func() { defer close(p.flushed); p.lw.run(flushCtx) }()
	rc := x.out
	p.stopLogs = func() { _ = rc.Close() }
	go func() {
		defer close(p.pumped)
		defer rc.Close()
		// One buffer's worth of output at a time: the writer bounds the rest.
		masked := x.maskSecrets(p.lw)
		if _, err := io.CopyBuffer(masked, rc, make([]byte, 32<<10)); errors.Is(err, errLogStore) {
			x.w.cancelRun(x.run.ID, errLogStore)
			return
		}
		_ = masked.Close() // what it held back, in case it starts a secret
	}()
	return p
}

// drainLog waits for the container's output to end, stores the rest and
// closes the writer, which ends its followers' live reading. The stream
// ends when the container has exited; a daemon that keeps it open is cut
// after a short while (and a pump waiting for the store is let go).
func (x *execution) drainLog(bg context.Context, p *logPump) {
	select {
	case <-p.pumped:
	case <-time.After(logDrainTimeout):
		p.stopLogs()
		p.lw.close()
		<-p.pumped
	}
	p.stopLogs()
	p.stopFlush()
	<-p.flushed
	x.w.flushAll(bg, p.lw)
	p.lw.close()
	x.w.hub.remove(x.run.ID)
}

// waitContainer waits for the container within the run's timeout, and
// stops it when the run is canceled, times out or the server stops.
func (x *execution) waitContainer(ctx context.Context) ending {
	watchCtx, breach := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); x.watchWorkspace(watchCtx, breach) }()
	defer func() { breach(nil); <-watched }()
	waitCtx, cancel := context.WithTimeout(watchCtx, time.Duration(x.run.TimeoutSeconds)*time.Second)
	defer cancel()
	exit, err := x.w.engine.Wait(waitCtx, x.cid)
	if err == nil {
		return ending{exit: exit}
	}
	end := ending{err: err, stopped: ctx.Err() != nil}
	if !end.stopped && !errors.As(context.Cause(watchCtx), &end.limit) {
		end.timedOut = waitCtx.Err() != nil
	}
	if !end.stopped && !end.timedOut && end.limit == nil {
		x.log.Error("waiting for container failed", zap.Error(err))
	}
	if err := x.stopContainer(context.WithoutCancel(ctx)); err != nil {
		x.log.Error("the container could not be stopped; the run keeps no patch",
			zap.String("container_id", x.cid), zap.Error(err))
		end.running = true
	}
	return end
}

// watchWorkspace checks the workspace against its limits while the agent
// runs, and ends ctx with the limit reached as its cause.
func (x *execution) watchWorkspace(ctx context.Context, breach context.CancelCauseFunc) {
	tick := time.NewTicker(x.w.tuning.WorkspaceCheck)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		le, err := x.ws.Check(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !warned:
			x.log.Warn("checking the workspace limits failed", zap.Error(err))
			warned = true
		case le != nil:
			x.log.Info("the workspace reached a limit; stopping the agent", zap.String("limit", le.Limit), zap.Int64("max", le.Max))
			breach(le)
			return
		}
	}
}

// stopContainer stops the agent's container (its stop signal, then SIGKILL
// after the grace period; SIGKILL alone when that fails) and returns nil
// only when the daemon then says it no longer runs, or that it is gone.
func (x *execution) stopContainer(bg context.Context) error {
	grace := x.w.grace()
	sctx, cancel := context.WithTimeout(bg, grace+dockerCallTimeout)
	err := x.w.engine.Stop(sctx, x.cid, grace)
	cancel()
	if errors.Is(err, derrors.ErrNotFound) {
		return nil
	}
	if err != nil {
		x.log.Warn("stopping container failed; killing it", zap.String("container_id", x.cid), zap.Error(err))
		kctx, cancel := context.WithTimeout(bg, dockerCallTimeout)
		kerr := x.w.engine.Kill(kctx, x.cid)
		cancel()
		switch {
		case errors.Is(kerr, derrors.ErrNotFound):
			return nil
		case kerr != nil:
			return fmt.Errorf("stop: %w; kill: %w", err, kerr)
		}
	}
	ictx, cancel := context.WithTimeout(bg, dockerCallTimeout)
	defer cancel()
	running, err := x.w.engine.Running(ictx, x.cid)
	switch {
	case err != nil:
		return fmt.Errorf("confirming the stop: %w", err)
	case running:
		return errors.New("the daemon still reports it running after stop")
	}
	return nil
}

// collectPatch stores the workspace's diff (empty when nothing changed) and
// returns a message when it could not.
func (x *execution) collectPatch(bg context.Context) string {
	pctx, cancel := context.WithTimeout(bg, patchTimeout)
	defer cancel()
	patch, err := x.ws.Patch(pctx)
	if errors.Is(err, workspace.ErrPatchTooLarge) {
		return fmt.Sprintf("the agent's changes exceed the patch limit of %d bytes", x.w.cfg.MaxPatchBytes)
	}
	if errors.Is(err, workspace.ErrTreeLimit) {
		x.log.Info("agent's tree over the limits", zap.Error(err))
		return treeLimitMessage("the agent's tree", err)
	}
	if err != nil {
		x.log.Error("computing patch failed", zap.Error(err))
		// Computing it writes git objects into the workspace, which
		// may be what filled it.
		if le := x.workspaceLimit(bg); le != nil {
			return "the patch could not be computed: " + limitMessage(le)
		}
		return "the patch could not be computed"
	}
	x.warnings = append(x.warnings, patchWarnings(patch, x.secrets)...)
	if err := x.w.objects.Put(pctx, patchKey(x.run.ID), bytes.NewReader(patch)); err != nil {
		x.log.Error("storing patch failed", zap.Error(err))
		return "the patch could not be stored"
	}
	return ""
}

// treeLimitMessage says which setting a workspace tree (whose) exceeded.
func treeLimitMessage(whose string, err error) string {
	var le *workspace.TreeLimitError
	if errors.As(err, &le) && le.Limit == workspace.LimitDepth {
		return fmt.Sprintf("%s nests directories deeper than runs.max_tree_depth (%d)", whose, le.Max)
	}
	if le != nil {
		return fmt.Sprintf("%s has more entries than runs.max_tree_entries (%d)", whose, le.Max)
	}
	return whose + " exceeds the workspace tree limits"
}

// removeAttempts is how many times cleanUp asks Docker to remove a
// container, Tuning.RemoveBackoff apart (twice that before the third).
const removeAttempts = 3

// cleanUp removes the container (forced: killed first if it still runs,
// retried) and the workspace, whichever exist. It reports false when the
// container is left behind, for an operator's clean-up.
func (x *execution) cleanUp(bg context.Context) (removed bool) {
	removed = true
	if x.out != nil {
		_ = x.out.Close() // unread when a later step failed
	}
	if x.cid != "" {
		removed = x.removeContainer(bg)
	}
	x.closeEgress(bg)
	if x.ws != nil {
		if err := x.ws.Remove(); err != nil {
			x.log.Error("removing workspace failed", zap.Error(err))
		}
	}
	return removed
}

// removeContainer force-removes the container, trying removeAttempts times.
func (x *execution) removeContainer(bg context.Context) bool {
	var err error
	for attempt := 1; attempt <= removeAttempts; attempt++ {
		rctx, cancel := context.WithTimeout(bg, dockerCallTimeout)
		err = x.w.engine.Remove(rctx, x.cid)
		cancel()
		if err == nil {
			return true
		}
		if attempt < removeAttempts {
			x.log.Warn("removing container failed; retrying", zap.String("container_id", x.cid), zap.Error(err))
			time.Sleep(time.Duration(attempt) * x.w.tuning.RemoveBackoff)
		}
	}
	x.log.Error("removing container failed; it is left for an operator's clean-up",
		zap.String("container_id", x.cid), zap.Int("attempts", removeAttempts), zap.Error(err))
	return false
}
