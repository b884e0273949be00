package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// Tuning holds the intervals of the module that are not settings; tests
// shorten them with fx.Decorate.
type Tuning struct {
	// Heartbeat is how often an instance refreshes its record, checks its
	// runs for cancel requests and looks for dead instances; an instance
	// is dead after three intervals without one.
	Heartbeat time.Duration
	// OrphanSweep is how often runs of deleted repositories are removed (the
	// JSON store has no cascades) and deleted runs' objects are removed.
	OrphanSweep time.Duration
	// KeepAlive is the interval of SSE comments on an idle log stream.
	KeepAlive time.Duration
	// Poll is how often a follower of a run worked by another instance
	// reads the object store.
	Poll time.Duration
	// FlushInterval and FlushBytes batch log appends.
	FlushInterval time.Duration
	FlushBytes    int
	// MaxPendingLog bounds the bytes of one run's log held in memory until
	// the object store has them; the agent is slowed down above it.
	MaxPendingLog int
	// LogStoreFailAfter is how long the store may keep failing while a
	// run's pending log is full before the run is stopped and failed.
	LogStoreFailAfter time.Duration
	// FollowWriteTimeout is how long one write to a log stream (an event,
	// a keep-alive) or to a log download may take: a client that stops
	// reading is dropped after it.
	FollowWriteTimeout time.Duration
	// FollowRetryAfter is the Retry-After of a 429 for too many streams.
	FollowRetryAfter time.Duration
	// DockerCheckTTL is how long a Docker ping result is reused.
	DockerCheckTTL time.Duration
	// QuotaRetryAfter is the Retry-After of a 429 quota_exceeded.
	QuotaRetryAfter time.Duration
	// RemoveBackoff spaces the attempts to remove a run's container.
	RemoveBackoff time.Duration
	// WorkspaceCheck is how often a running agent's workspace is checked
	// against its limits.
	WorkspaceCheck time.Duration
	// QueueResweep is how long the sqs queue's sweep waits after it sent
	// lost runs again before it trusts SQS's counts again.
	QueueResweep time.Duration
}

// DefaultTuning returns the production intervals.
func DefaultTuning() Tuning {
	return Tuning{
		Heartbeat:          10 * time.Second,
		OrphanSweep:        time.Minute,
		KeepAlive:          15 * time.Second,
		Poll:               time.Second,
		FlushInterval:      250 * time.Millisecond,
		FlushBytes:         64 << 10,
		MaxPendingLog:      8 << 20,
		LogStoreFailAfter:  2 * time.Minute,
		FollowWriteTimeout: 30 * time.Second,
		FollowRetryAfter:   5 * time.Second,
		DockerCheckTTL:     5 * time.Second,
		QuotaRetryAfter:    30 * time.Second,
		RemoveBackoff:      time.Second,
		WorkspaceCheck:     250 * time.Millisecond,
		QueueResweep:       time.Minute,
	}
}

// systemPrincipal is how the worker looks repositories up: not a user, so
// it needs root's view of every repository.
var systemPrincipal = identity.Principal{ID: "system:runs", Groups: []string{identity.GroupRoot}}

// localRuns is what the Service needs of the Worker, which works runs on
// this instance: to stop one, to follow one's live log, and the lifetime log
// streams live on (the instance's, not a request's).
type localRuns interface {
	// requestCancel stops the run if this instance works it; other
	// instances see its CancelRequested at their next heartbeat.
	requestCancel(runID string)
	// liveLog is the log writer of a run this instance works, nil when
	// the run is not, or no longer, worked here.
	liveLog(runID string) *logWriter
	// lifetime ends when the instance stops; it has ended before it starts.
	lifetime() context.Context
}

var _ localRuns = (*Worker)(nil)

// Service holds the rules of runs: ownership, validation, quota and
// idempotency, cancellation, and reading logs and patches.
type Service struct {
	store   Store
	queue   queue.Queue
	repos   access.Repositories
	engine  containers.Engine
	objects objects.Store
	worker  localRuns
	cfg     settings.Runs
	tuning  Tuning
	log     *zap.Logger
	docker  *dockerCheck
	now     func() time.Time
	metrics metrics.Runs
	// queueBackend is the run queue's backend (settings.QueueBackend).
	queueBackend string
	follows      *followLimits

	followers atomic.Int64
}

// ServiceParams are the Service's dependencies.
type ServiceParams struct {
	fx.In

	Store    Store
	Queue    queue.Queue
	Repos    access.Repositories
	Engine   containers.Engine
	Objects  objects.Store
	Worker   localRuns // the Worker, as far as the service needs it
	Settings *settings.Settings
	Tuning   Tuning
	Log      *zap.Logger
	Metrics  metrics.Runs `optional:"true"`
}

// NewService builds the service. It does no I/O.
func NewService(p ServiceParams) *Service {
	return &Service{store: p.Store, queue: p.Queue, repos: p.Repos, engine: p.Engine, objects: p.Objects,
		worker: p.Worker, cfg: p.Settings.Runs, tuning: p.Tuning, log: p.Log.Named("runs"),
		docker: newDockerCheck(p.Engine, p.Tuning.DockerCheckTTL), now: nowUTC, metrics: orNop(p.Metrics),
		queueBackend: p.Settings.QueueBackend(),
		follows:      newFollowLimits(p.Settings.Runs.MaxFollows, p.Settings.Runs.MaxFollowsPerUser)}
}

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// CreateInput is a request to start a run.
type CreateInput struct {
	RepositoryID   string
	Prompt         string
	Branch         string
	TimeoutSeconds *int
	IdempotencyKey string
}

// requestHash identifies a create request for idempotency: the repository
// and the body as asked, in a fixed encoding.
func (in CreateInput) requestHash() string {
	b, _ := json.Marshal(struct {
		RepositoryID   string `json:"r"`
		Prompt         string `json:"p"`
		Branch         string `json:"b"`
		TimeoutSeconds *int   `json:"t"`
	}{in.RepositoryID, in.Prompt, in.Branch, in.TimeoutSeconds})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Create queues a run on a repository the caller may change. replayed is
// true when the Idempotency-Key named a run made earlier with the same body.
func (s *Service) Create(ctx context.Context, caller identity.Principal, in CreateInput) (run *Run, replayed bool, err error) {
	var fields []derrors.FieldError
	if r := checkPrompt(in.Prompt, s.cfg.MaxPromptBytes); r != "" {
		fields = append(fields, derrors.FieldError{Field: "prompt", Reason: r})
	}
	if r := workspace.CheckBranch(in.Branch); r != "" {
		fields = append(fields, derrors.FieldError{Field: "branch", Reason: r})
	}
	maxSecs := int(s.cfg.MaxTimeout / time.Second)
	timeout := int(s.cfg.DefaultTimeout / time.Second)
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
		if timeout < 1 || timeout > maxSecs {
			fields = append(fields, derrors.FieldError{Field: "timeout_seconds",
				Reason: fmt.Sprintf("must be from 1 to %d", maxSecs)})
		}
	}
	if r := checkIdempotencyKey(in.IdempotencyKey); r != "" {
		fields = append(fields, derrors.FieldError{Field: "Idempotency-Key", Reason: r})
	}
	if len(fields) > 0 {
		return nil, false, derrors.Validation(fields...)
	}
	repo, err := s.repos.WritableRepository(ctx, caller, in.RepositoryID)
	if err != nil {
		return nil, false, err
	}
	if s.cfg.Execute { // an API-only instance leaves Docker to the workers
		if err := s.docker.available(ctx); err != nil {
			return nil, false, derrors.Unavailable("docker", err)
		}
	}
	branch := in.Branch
	if branch == "" {
		branch = repo.DefaultBranch
	}
	run = &Run{
		ID: ids.New(IDPrefix), ProjectID: repo.ProjectID, RepositoryID: repo.ID, OwnerID: caller.ID,
		Status: StatusQueued, Prompt: in.Prompt, Branch: branch, TimeoutSeconds: timeout,
		IdempotencyKey: in.IdempotencyKey, CreatedAt: s.now(),
	}
	if in.IdempotencyKey != "" {
		run.RequestHash = in.requestHash()
	}
	// A repository deleted since the check above makes the store refuse
	// the run: the caller learns the repository is gone.
	var existing *Run
	create := func() error {
		return storage.CreateChild("repository", repo.ID, func() (err error) {
			existing, err = s.store.Create(ctx, run, s.cfg.MaxActivePerUser)
			return err
		})
	}
	err = create()
	if cutoff := s.now().Add(-s.cfg.IdempotencyTTL); existing != nil && existing.CreatedAt.Before(cutoff) {
		// The key outlived its TTL before the sweep forgot it.
		if _, err := s.store.ExpireKeys(ctx, caller.ID, cutoff, 0); err != nil {
			return nil, false, err
		}
		err = create()
	}
	switch {
	case errors.Is(err, ErrQuotaExceeded):
		return nil, false, derrors.TooMany(derrors.CodeQuotaExceeded,
			fmt.Sprintf("you already have %d active runs; wait for one to finish", s.cfg.MaxActivePerUser),
			s.tuning.QuotaRetryAfter).WithDetail("limit", s.cfg.MaxActivePerUser)
	case err != nil:
		return nil, false, err
	case existing != nil:
		if existing.RequestHash != run.RequestHash {
			return nil, false, derrors.New(derrors.CodeConflict,
				"this Idempotency-Key was used for a different request").WithDetail("run_id", existing.ID)
		}
		return existing, true, nil
	}
	if in.IdempotencyKey != "" {
		// A user holds at most max_idempotency_keys keys: the oldest go.
		if _, err := s.store.ExpireKeys(ctx, caller.ID, time.Time{}, s.cfg.MaxIdempotencyKeys); err != nil {
			s.log.Warn("expiring idempotency keys failed", zap.String("owner_id", caller.ID), zap.Error(err))
		}
	}
	s.enqueue(ctx, run.ID)
	return run, false, nil
}

// enqueueTimeout bounds the enqueue of a created run, so an unreachable
// queue costs its create little: the run is stored as queued, which is what
// counts.
const enqueueTimeout = 2 * time.Second

// enqueue tells the workers about a run just stored as queued. A failure
// leaves the run queued in the records store, where the workers find it
// anyway: on the local queue at their next heartbeat, on the postgres queue
// at their next poll, on sqs through the heartbeat's sweep once SQS answers.
func (s *Service) enqueue(ctx context.Context, runID string) {
	shared := s.queueBackend == queue.BackendPostgres || s.queueBackend == queue.BackendSQS
	if !s.cfg.Execute && !shared {
		return // no worker reads this process's queue; heartbeats find the run in the store
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer cancel()
	if err := s.queue.Enqueue(ctx, runID); err != nil {
		s.log.Error("enqueue failed; the run stays queued in the records store until a worker finds it",
			zap.String("run_id", runID), zap.Error(err))
	}
}

// Get returns a run the caller may see: their own, or any for an operator.
// A run of a repository that no longer exists is gone too.
func (s *Service) Get(ctx context.Context, caller identity.Principal, id string) (*Run, error) {
	if !ids.Valid(IDPrefix, id) {
		return nil, derrors.NotFound("run", id)
	}
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("run", id)
	}
	if err != nil {
		return nil, err
	}
	if r.OwnerID != caller.ID && !caller.IsOperator() {
		return nil, derrors.NotFound("run", id)
	}
	if _, err := s.repos.VisibleRepository(ctx, systemPrincipal, r.RepositoryID); err != nil {
		if errors.Is(err, derrors.ErrNotFound) {
			return nil, derrors.NotFound("run", id)
		}
		return nil, err
	}
	return r, nil
}

// ListInput filters a list of runs.
type ListInput struct {
	All          bool
	ProjectID    string
	RepositoryID string
	Status       string
	Page         page.Request
}

// List pages through the caller's runs, or everyone's for an operator
// asking for all.
func (s *Service) List(ctx context.Context, caller identity.Principal, in ListInput) (page.Result[Run], error) {
	f := Filter{OwnerID: caller.ID, ProjectID: in.ProjectID, RepositoryID: in.RepositoryID, Status: Status(in.Status)}
	if in.Status != "" && !f.Status.Valid() {
		return page.Result[Run]{}, derrors.InvalidField("status", "must be one of queued, preparing, running, succeeded, failed, canceled, timed_out, interrupted")
	}
	// The projects and repositories modules own those ids: a filter needs
	// only to look like an id of some kind.
	if _, ok := ids.Split(in.ProjectID); in.ProjectID != "" && !ok {
		return page.Result[Run]{}, derrors.InvalidField("project_id", "is not a project id")
	}
	if _, ok := ids.Split(in.RepositoryID); in.RepositoryID != "" && !ok {
		return page.Result[Run]{}, derrors.InvalidField("repository_id", "is not a repository id")
	}
	if in.All {
		if !caller.IsOperator() {
			return page.Result[Run]{}, derrors.Forbidden(identity.GroupOperator)
		}
		f.OwnerID = ""
	}
	return s.store.List(ctx, f, in.Page)
}

// Cancel stops a run: a queued one at once, an active one by asking the
// instance that works it. Only the owner and root may cancel: operators read
// every run but change none that is not theirs, as with projects.
func (s *Service) Cancel(ctx context.Context, caller identity.Principal, id string) (*Run, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return nil, err
	}
	r, err := s.store.Update(ctx, id, func(r *Run) error {
		switch {
		case r.OwnerID != caller.ID && !caller.Has(identity.GroupRoot):
			return derrors.Forbidden(identity.GroupRoot)
		case r.Status.Terminal():
			return derrors.New(derrors.CodeRunFinished, fmt.Sprintf("run %s has already finished (%s)", id, r.Status)).
				WithDetail("status", string(r.Status))
		case r.Status == StatusQueued:
			now := s.now()
			r.Status, r.FinishedAt, r.Error = StatusCanceled, &now, "canceled before it started"
		default:
			r.CancelRequested = true
		}
		return nil
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("run", id)
	}
	if err != nil {
		return nil, err
	}
	if r.Status.Active() {
		s.worker.requestCancel(r.ID)
	}
	if r.Status == StatusCanceled { // it was queued: a terminal run is refused above
		s.metrics.RunFinished(string(r.Status), 0)
	}
	return r, nil
}

// LogSize checks that the caller may see the run and returns the length
// of its log as stored so far: 0 before any output. A run worked here has
// up to a flush interval of output more, which followers get at once.
func (s *Service) LogSize(ctx context.Context, caller identity.Principal, id string) (int64, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return 0, err
	}
	n, err := s.objects.Size(ctx, logKey(id))
	if errors.Is(err, derrors.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// OpenLog streams n bytes of the run's stored log from byte off, read as
// the caller reads (never whole in memory). The caller checked access with
// LogSize. ctx must last as long as the reading.
func (s *Service) OpenLog(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	rc, err := s.objects.GetRange(ctx, logKey(id), off, n)
	if errors.Is(err, derrors.ErrNotFound) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return rc, err
}

// Patch returns the patch of a finished run; not found before it has one.
func (s *Service) Patch(ctx context.Context, caller identity.Principal, id string) ([]byte, error) {
	r, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if !r.Status.Terminal() {
		return nil, derrors.NotFound("patch of run", id).WithDetail("status", string(r.Status))
	}
	rc, err := s.objects.Get(ctx, patchKey(id))
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("patch of run", id)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// dockerCheck caches Docker's ping so that creating runs stays cheap.
type dockerCheck struct {
	engine containers.Engine
	ttl    time.Duration

	mu   sync.Mutex
	at   time.Time
	last error
}

func newDockerCheck(e containers.Engine, ttl time.Duration) *dockerCheck {
	return &dockerCheck{engine: e, ttl: ttl}
}

// available returns the last ping's result while it is fresh, else pings
// (bounded by the engine's ping timeout). Concurrent callers share a ping.
func (d *dockerCheck) available(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.at.IsZero() && time.Since(d.at) < d.ttl {
		return d.last
	}
	err := d.engine.Ping(ctx)
	if ctx.Err() != nil {
		return err // the caller gave up: says nothing about docker, do not cache
	}
	d.at, d.last = time.Now(), err
	return err
}
