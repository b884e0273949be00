package runs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// recoveryTimeout bounds the clean-up pass of a start; what it cannot finish
// the heartbeat's sweep retries.
const recoveryTimeout = 10 * time.Second

// Start registers this instance, cleans up after dead instances (containers,
// runs, workspaces), queues again every run still queued, oldest first, and
// starts the dispatcher and the heartbeat. Docker being absent is a warning,
// not a failure. On error nothing is left running.
func (w *Worker) Start(ctx context.Context) (err error) {
	if !w.cfg.Execute {
		// API-only: no containers, no claims; only the lifetime that log
		// followers and cancels use.
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ctx, w.cancel = context.WithCancelCause(context.Background())
		w.started = true
		w.log.Info("runs are executed by worker processes (runs.execute is false)")
		return nil
	}
	now := time.Now().UTC()
	host, _ := os.Hostname()
	w.self.Hostname, w.self.BootID, w.self.PID = host, bootID(), os.Getpid()
	w.self.StartedAt, w.self.HeartbeatAt = now, now
	if err := w.store.PutInstance(ctx, &w.self); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCallTimeout)
			defer cancel()
			_ = w.store.DeleteInstance(cctx, w.self.ID)
		}
	}()

	if err := w.logWorkspaceLimits(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, recoveryTimeout)
	began := time.Now()
	reaped, err := w.sweepDead(rctx)
	if err != nil {
		w.log.Warn("cleaning up after earlier instances is incomplete; retrying at the next heartbeat", zap.Error(err))
	}
	// Nothing of this instance exists yet: every run directory belongs to a
	// dead instance, or to a live one sharing this data dir (kept).
	live, lerr := w.liveRuns(rctx)
	if lerr == nil {
		if err := w.wsm.RemoveStale(func(runID string) bool { return live[runID] }); err != nil {
			w.log.Warn("removing stale workspaces failed", zap.Error(err))
		}
	}
	cancel()
	w.log.Info("start-up clean-up done", zap.String("instance_id", w.self.ID),
		zap.Int("containers_removed", reaped), zap.Duration("took", time.Since(began)))

	if w.requeues {
		if err := w.requeue(ctx); err != nil {
			return err
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctx, w.cancel = context.WithCancelCause(context.Background())
	w.started = true
	w.bg.Add(2)
	go w.dispatch()
	go w.heartbeat()
	return nil
}

// logWorkspaceLimits settles how workspaces are held to their limits and
// says so; runs.workspace_limits=mount on a host that cannot mount fails
// the start.
func (w *Worker) logWorkspaceLimits(ctx context.Context) error {
	mode, note, err := w.wsm.Probe(ctx)
	if err != nil {
		return fmt.Errorf("setting SLIPWAY_RUN_WORKSPACE_LIMITS: %w", err)
	}
	fields := []zap.Field{zap.String("mode", mode), zap.String("dir", w.wsm.Root()),
		zap.Int64("max_bytes", w.cfg.MaxWorkspaceBytes), zap.Int64("max_files", w.cfg.MaxWorkspaceFiles)}
	switch {
	case mode == workspace.ModeMount:
		w.log.Info("workspaces are filesystems of their own: their limits hold exactly", fields...)
	case note != "":
		w.log.Warn("workspaces are measured by walking them, so an agent can write past a limit until the next walk; "+
			"run as root with loop devices and mkfs.ext4 for exact limits", append(fields, zap.String("why_not_mount", note))...)
	default:
		w.log.Info("workspaces are measured by walking them (runs.workspace_limits=scan)", fields...)
	}
	return nil
}

// lifetime is the app-lifetime context; canceled before Start and after Stop.
func (w *Worker) lifetime() context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return w.ctx
}

// requeue puts every queued run of the records store on the local queue,
// oldest first: the store, not the queue, is what makes queued runs durable.
func (w *Worker) requeue(ctx context.Context) error {
	queued, err := w.store.ListStatus(ctx, StatusQueued)
	if err != nil {
		return err
	}
	for _, r := range queued {
		if err := w.queue.Enqueue(ctx, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops taking runs, stops this instance's containers within ctx (the
// grace period shortened to fit), records their runs as interrupted and
// removes containers and workspaces. Queued runs stay queued for the next
// start. It is idempotent and returns by ctx's deadline.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started || w.stopping {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	w.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		w.deadline.Store(&d)
	}
	w.cancel(errShutdown)
	if !w.cfg.Execute {
		return nil
	}
	w.bg.Wait() // the dispatcher and heartbeat return at once

	done := make(chan struct{})
	go func() { w.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// The executors did not finish in time: kill what is left and say
		// so in the records; the executors' own late updates then fail the
		// status check.
		w.forceInterrupt()
		return ctx.Err()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCallTimeout)
	defer cancel()
	return w.store.DeleteInstance(dctx, w.self.ID)
}

// forceInterrupt removes the containers of the runs still active here and
// marks the runs interrupted, with deadlines of its own.
func (w *Worker) forceInterrupt() {
	w.mu.Lock()
	var ids []string
	for id := range w.active {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
	defer cancel()
	if _, err := w.engine.Reap(ctx, func(c containers.Container) bool { return c.InstanceID != w.self.ID }); err != nil {
		w.log.Error("removing containers at stop failed", zap.Error(err))
	}
	for _, id := range ids {
		w.interrupt(ctx, id, w.self.ID)
	}
}

// interrupt marks an active run of instance interrupted.
func (w *Worker) interrupt(ctx context.Context, id, instance string) {
	now := nowUTC()
	_, err := w.store.Update(ctx, id, func(r *Run) error {
		if !r.Status.Active() || r.InstanceID != instance || !CanMove(r.Status, StatusInterrupted) {
			return errNotActive
		}
		r.Status, r.Error, r.FinishedAt, r.CancelRequested = StatusInterrupted, msgInterrupted, &now, false
		return nil
	})
	if err != nil && !errors.Is(err, errNotActive) && !errors.Is(err, derrors.ErrNotFound) {
		w.log.Error("marking run interrupted failed", zap.String("run_id", id), zap.Error(err))
		return
	}
	if err == nil {
		w.log.Warn("run interrupted", zap.String("run_id", id), zap.String("instance_id", instance))
		w.metrics.RunFinished(string(StatusInterrupted), 0)
	}
}

var errNotActive = errors.New("run is not active on that instance")

// heartbeat refreshes this instance's record, passes cancel requests and
// deletions to local runs, and sweeps up after dead instances and deleted
// repositories.
func (w *Worker) heartbeat() {
	defer w.bg.Done()
	t := time.NewTicker(w.tuning.Heartbeat)
	defer t.Stop()
	lastOrphans := time.Now()
	for {
		select {
		case <-t.C:
		case <-w.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.tuning.Heartbeat)
		w.self.HeartbeatAt = time.Now().UTC()
		if err := w.store.PutInstance(ctx, &w.self); err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed", zap.Error(err))
		}
		w.checkLocalRuns(ctx)
		if w.requeues {
			// Runs queued through another process (an API-only instance,
			// or `slipway serve` beside `slipway worker`) reach this one's
			// local queue here; it drops ids already waiting and the claim
			// is atomic. The postgres and sqs queues are shared instead.
			if err := w.requeue(ctx); err != nil && w.ctx.Err() == nil {
				w.log.Warn("picking up queued runs failed", zap.Error(err))
			}
		}
		if err := w.sweepQueue(ctx); err != nil && w.ctx.Err() == nil {
			w.log.Warn("checking the queue for lost runs failed", zap.Error(err))
		}
		if _, err := w.sweepDead(ctx); err != nil && w.ctx.Err() == nil {
			w.log.Warn("sweeping dead instances failed", zap.Error(err))
		}
		if time.Since(lastOrphans) >= w.tuning.OrphanSweep {
			lastOrphans = time.Now()
			if err := w.sweepOrphans(ctx); err != nil && w.ctx.Err() == nil {
				w.log.Warn("sweeping deleted runs failed", zap.Error(err))
			}
			if _, err := w.store.ExpireKeys(ctx, "", time.Now().Add(-w.cfg.IdempotencyTTL), 0); err != nil && w.ctx.Err() == nil {
				w.log.Warn("expiring idempotency keys failed", zap.Error(err))
			}
		}
		cancel()
	}
}

// sweepQueue enqueues again the queued runs the sqs queue has lost (a
// queue.Counter, as only sqs is; it does nothing on the others): sends
// that failed while SQS was unreachable (the run was stored all the same),
// messages the redrive policy moved to the dead-letter queue, messages past
// their retention. SQS holds at least one message per queued run (more
// while stale ones wait: of runs canceled, or claimed through a duplicate),
// so holding fewer than there are queued runs means some were lost; then
// every run queued for longer than a heartbeat is sent again. Duplicates
// are harmless: the claim is atomic, and a stale delivery is acknowledged
// and dropped. Only the oldest live instance sweeps, so a fleet sends one
// copy, and after a sweep that sent some it waits Tuning.QueueResweep, the
// time SQS's counts may take to catch up.
func (w *Worker) sweepQueue(ctx context.Context) error {
	counter, ok := w.queue.(queue.Counter)
	if !ok || time.Now().Before(w.nextQueueSweep) {
		return nil
	}
	lead, err := w.leads(ctx)
	if err != nil || !lead {
		return err
	}
	queued, err := w.store.ListStatus(ctx, StatusQueued)
	if err != nil || len(queued) == 0 {
		return err
	}
	held, err := counter.Approximate(ctx)
	if err != nil || held >= len(queued) {
		return err
	}
	cutoff := time.Now().Add(-w.tuning.Heartbeat) // a newer run's enqueue may be under way
	sent := 0
	for _, r := range queued {
		if r.CreatedAt.After(cutoff) {
			continue
		}
		if err := w.queue.Enqueue(ctx, r.ID); err != nil {
			return err
		}
		sent++
	}
	if sent > 0 {
		w.nextQueueSweep = time.Now().Add(w.tuning.QueueResweep)
		w.log.Warn("enqueued again queued runs the queue had lost", zap.Int("runs", sent),
			zap.Int("queued", len(queued)), zap.Int("queue_held", held))
	}
	return nil
}

// leads reports whether this instance is the oldest live one, which does
// the fleet's chores that need doing once.
func (w *Worker) leads(ctx context.Context) (bool, error) {
	instances, err := w.store.Instances(ctx)
	if err != nil {
		return false, err
	}
	now := time.Now()
	for _, in := range instances {
		if in.ID == w.self.ID || w.dead(in, now) {
			continue
		}
		if in.StartedAt.Before(w.self.StartedAt) || (in.StartedAt.Equal(w.self.StartedAt) && in.ID < w.self.ID) {
			return false, nil
		}
	}
	return true, nil
}

// checkLocalRuns cancels local runs that were deleted or asked to cancel
// through another instance.
func (w *Worker) checkLocalRuns(ctx context.Context) {
	w.mu.Lock()
	ids := make([]string, 0, len(w.active))
	for id := range w.active {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	for _, id := range ids {
		r, err := w.store.Get(ctx, id)
		switch {
		case errors.Is(err, derrors.ErrNotFound):
			w.cancelRun(id, errDeleted)
		case err == nil && r.CancelRequested:
			w.cancelRun(id, errCanceled)
		case err == nil && r.InstanceID != w.self.ID:
			w.cancelRun(id, errLost)
		}
	}
}

// dead reports whether an instance record is of a process that is gone:
// no heartbeat for three intervals, or, on this same machine, a process id
// that no longer exists.
func (w *Worker) dead(in Instance, now time.Time) bool {
	if in.ID == w.self.ID {
		return false
	}
	if now.Sub(in.HeartbeatAt) > 3*w.tuning.Heartbeat {
		return true
	}
	sameMachine := in.Hostname == w.self.Hostname && in.BootID != "" && in.BootID == w.self.BootID
	return sameMachine && !processAlive(in.PID)
}

// sweepDead marks the active runs of dead instances interrupted and removes
// their containers; it forgets a dead instance once nothing of it is left.
// Containers of live instances, of instances this store never knew (another
// deployment on the same Docker host) and unlabelled ones are not touched.
func (w *Worker) sweepDead(ctx context.Context) (removed int, err error) {
	instances, err := w.store.Instances(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	known, deadIDs := map[string]bool{}, map[string]bool{}
	for _, in := range instances {
		known[in.ID] = true
		if w.dead(in, now) {
			deadIDs[in.ID] = true
		}
	}
	active, err := w.store.ListStatus(ctx, StatusPreparing, StatusRunning)
	if err != nil {
		return 0, err
	}
	for _, r := range active {
		if r.InstanceID != w.self.ID && (deadIDs[r.InstanceID] || !known[r.InstanceID]) {
			w.interrupt(ctx, r.ID, r.InstanceID)
		}
	}
	if len(deadIDs) == 0 {
		return 0, nil
	}
	if err := w.engine.Ping(ctx); err != nil {
		return 0, err // the containers wait for Docker; the records stay until then
	}
	gone, err := w.engine.Reap(ctx, func(c containers.Container) bool { return !deadIDs[c.InstanceID] })
	if err != nil {
		return len(gone), err
	}
	// Their egress networks go once nothing is attached: the proxies were
	// among the containers just removed.
	if _, err := w.egress.Prune(ctx, func(id string) bool { return deadIDs[id] }); err != nil {
		return len(gone), err
	}
	for id := range deadIDs {
		if err := w.store.DeleteInstance(ctx, id); err != nil {
			return len(gone), err
		}
	}
	if len(gone) > 0 {
		w.log.Warn("removed containers of dead instances", zap.Int("count", len(gone)))
	}
	return len(gone), nil
}

// liveRuns returns the active runs of live instances.
func (w *Worker) liveRuns(ctx context.Context) (map[string]bool, error) {
	instances, err := w.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	alive := map[string]bool{}
	now := time.Now()
	for _, in := range instances {
		if !w.dead(in, now) {
			alive[in.ID] = true
		}
	}
	active, err := w.store.ListStatus(ctx, StatusPreparing, StatusRunning)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range active {
		if alive[r.InstanceID] {
			out[r.ID] = true
		}
	}
	return out, nil
}

// sweepOrphans removes runs whose repository is gone (the JSON store has no
// cascades; on PostgreSQL the foreign keys did it already) and the objects
// of deleted runs.
func (w *Worker) sweepOrphans(ctx context.Context) error {
	repos, err := w.store.RepositoryIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range repos {
		_, err := w.repos.VisibleRepository(ctx, systemPrincipal, id)
		if !errors.Is(err, derrors.ErrNotFound) {
			continue
		}
		n, err := w.store.DeleteRepositoryRuns(ctx, id)
		if err != nil {
			return err
		}
		w.log.Info("deleted runs of a deleted repository", zap.String("repository_id", id), zap.Int("runs", n))
	}
	for {
		ids, err := w.store.Deleted(ctx, 100)
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, id := range ids {
			w.cancelRun(id, errDeleted)
			if _, err := w.objects.DeletePrefix(ctx, objectPrefix(id)); err != nil {
				return err
			}
		}
		if err := w.store.Forget(ctx, ids); err != nil {
			return err
		}
	}
}

// bootID identifies the running kernel, "" where unknown.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// processAlive reports whether a process with pid exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
