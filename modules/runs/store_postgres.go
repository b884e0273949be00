package runs

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
)

// pgStore keeps runs in PostgreSQL (migrations/*_create_runs.*).
type pgStore struct {
	db   *bun.DB
	byID *postgres.Lookup[runRow]
}

func newPostgresStore(db *bun.DB) Store {
	return &pgStore{db: db, byID: postgres.NewLookup[runRow](db, "id")}
}

var _ Store = (*pgStore)(nil)

// quotaLockSpace is the first key of the advisory locks that serialise the
// creates of one owner (the second is a hash of the owner id).
const quotaLockSpace = 7301

type runRow struct {
	bun.BaseModel `bun:"table:runs"`

	ID              string     `bun:"id,pk"`
	ProjectID       string     `bun:"project_id"`
	RepositoryID    string     `bun:"repository_id"`
	OwnerID         string     `bun:"owner_id"`
	Status          string     `bun:"status"`
	Prompt          string     `bun:"prompt"`
	Branch          string     `bun:"branch"`
	TimeoutSeconds  int        `bun:"timeout_seconds"`
	IdempotencyKey  *string    `bun:"idempotency_key"`
	RequestHash     *string    `bun:"request_hash"`
	ExitCode        *int       `bun:"exit_code"`
	Error           string     `bun:"error"`
	Warnings        []string   `bun:"warnings,array"`
	CancelRequested bool       `bun:"cancel_requested"`
	InstanceID      string     `bun:"instance_id"`
	ContainerID     string     `bun:"container_id"`
	LogTruncated    bool       `bun:"log_truncated"`
	CreatedAt       time.Time  `bun:"created_at"`
	StartedAt       *time.Time `bun:"started_at"`
	FinishedAt      *time.Time `bun:"finished_at"`
}

type instanceRow struct {
	bun.BaseModel `bun:"table:run_instances"`

	ID          string    `bun:"id,pk"`
	Hostname    string    `bun:"hostname"`
	BootID      string    `bun:"boot_id"`
	PID         int       `bun:"pid"`
	StartedAt   time.Time `bun:"started_at"`
	HeartbeatAt time.Time `bun:"heartbeat_at"`
}

func pgTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := postgres.Time(*t)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toRunRow(r *Run) *runRow {
	return &runRow{ID: r.ID, ProjectID: r.ProjectID, RepositoryID: r.RepositoryID, OwnerID: r.OwnerID,
		Status: string(r.Status), Prompt: r.Prompt, Branch: r.Branch, TimeoutSeconds: r.TimeoutSeconds,
		IdempotencyKey: strPtr(r.IdempotencyKey), RequestHash: strPtr(r.RequestHash), ExitCode: r.ExitCode,
		Error: r.Error, Warnings: nonNil(r.Warnings), CancelRequested: r.CancelRequested, InstanceID: r.InstanceID,
		ContainerID: r.ContainerID, LogTruncated: r.LogTruncated, CreatedAt: postgres.Time(r.CreatedAt), StartedAt: pgTimePtr(r.StartedAt), FinishedAt: pgTimePtr(r.FinishedAt)}
}

func (w *runRow) run() Run {
	return Run{ID: w.ID, ProjectID: w.ProjectID, RepositoryID: w.RepositoryID, OwnerID: w.OwnerID,
		Status: Status(w.Status), Prompt: w.Prompt, Branch: w.Branch, TimeoutSeconds: w.TimeoutSeconds,
		IdempotencyKey: deref(w.IdempotencyKey), RequestHash: deref(w.RequestHash), ExitCode: w.ExitCode,
		Error: w.Error, Warnings: nilIfEmpty(w.Warnings), CancelRequested: w.CancelRequested, InstanceID: w.InstanceID,
		ContainerID: w.ContainerID, LogTruncated: w.LogTruncated, CreatedAt: w.CreatedAt.UTC(), StartedAt: utcPtr(w.StartedAt), FinishedAt: utcPtr(w.FinishedAt)}
}

// nonNil and nilIfEmpty keep a run without warnings as nil in Go and as
// an empty array (not NULL) in its NOT NULL column.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (s *pgStore) translate(err error) error {
	if postgres.SQLState(err) == postgres.CodeUniqueViolation {
		switch postgres.Constraint(err) {
		case "runs_pkey":
			return derrors.Conflict("runs.id", err)
		case "runs_owner_id_idempotency_key_key":
			return derrors.Conflict("runs.idempotency", err)
		}
		return derrors.Conflict("runs", err)
	}
	return postgres.Translate(err)
}

// Create holds a transaction-scoped advisory lock on the owner while it
// looks the key up, counts the owner's active runs and inserts, so two
// creates of one owner never both see room for one more run.
func (s *pgStore) Create(ctx context.Context, run *Run, maxActive int) (existing *Run, err error) {
	defer derrors.Wrap(&err, "runs.Create(%q)", run.ID)
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(?))", quotaLockSpace, run.OwnerID); err != nil {
			return err
		}
		if run.IdempotencyKey != "" {
			var row runRow
			err := tx.NewSelect().Model(&row).Where("owner_id = ?", run.OwnerID).
				Where("idempotency_key = ?", run.IdempotencyKey).Limit(1).Scan(ctx)
			if err == nil {
				r := row.run()
				existing = &r
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		n, err := tx.NewSelect().Model((*runRow)(nil)).Where("owner_id = ?", run.OwnerID).
			Where("status IN (?)", bun.List(ActiveStatuses)).Count(ctx)
		if err != nil {
			return err
		}
		if n >= maxActive {
			return ErrQuotaExceeded
		}
		_, err = tx.NewInsert().Model(toRunRow(run)).Exec(ctx)
		return err
	})
	if errors.Is(err, ErrQuotaExceeded) {
		return nil, err
	}
	return existing, s.translate(err)
}

func (s *pgStore) ExpireKeys(ctx context.Context, ownerID string, before time.Time, keep int) (n int, err error) {
	defer derrors.Wrap(&err, "runs.ExpireKeys(%q)", ownerID)
	forget := func(q *bun.UpdateQuery) error {
		res, err := q.Model((*runRow)(nil)).Set("idempotency_key = NULL, request_hash = NULL").Exec(ctx)
		if err != nil {
			return s.translate(err)
		}
		k, err := res.RowsAffected()
		n += int(k)
		return err
	}
	if !before.IsZero() {
		q := s.db.NewUpdate().Where("idempotency_key IS NOT NULL").Where("created_at < ?", postgres.Time(before))
		if ownerID != "" {
			q = q.Where("owner_id = ?", ownerID)
		}
		if err := forget(q); err != nil {
			return n, err
		}
	}
	if ownerID != "" && keep > 0 {
		newest := s.db.NewSelect().Model((*runRow)(nil)).Column("id").Where("owner_id = ?", ownerID).
			Where("idempotency_key IS NOT NULL").OrderExpr("created_at DESC, id DESC").Offset(keep)
		if err := forget(s.db.NewUpdate().Where("id IN (?)", newest)); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *pgStore) Get(ctx context.Context, id string) (_ *Run, err error) {
	defer derrors.Wrap(&err, "runs.Get(%q)", id)
	var row runRow
	if err := s.byID.Get(ctx, &row, id); err != nil {
		return nil, s.translate(err)
	}
	r := row.run()
	return &r, nil
}

// Update locks the row for the read-modify-write; fn's error is returned
// as it is.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*Run) error) (*Run, error) {
	row, err := postgres.UpdateByID(ctx, s.db, "runs.Update", id, s.translate, func(row *runRow) (*runRow, error) {
		r := row.run()
		if err := fn(&r); err != nil {
			return nil, err
		}
		next := toRunRow(&r)
		next.ID = id
		return next, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	r := row.run()
	return &r, nil
}

// claimNextSQL takes the oldest queued run in one statement. FOR UPDATE
// SKIP LOCKED passes over a row another claim has locked rather than wait
// for it (the losers would only find it claimed), and the outer status
// check keeps a row that changed after the statement's snapshot (a cancel
// committed meanwhile) from being claimed.
const claimNextSQL = `UPDATE runs SET status = ?, instance_id = ?
WHERE id = (SELECT id FROM runs WHERE status = ? ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
  AND status = ?
RETURNING *`

func (s *pgStore) ClaimNext(ctx context.Context, instanceID string) (_ *Run, err error) {
	defer derrors.Wrap(&err, "runs.ClaimNext(%q)", instanceID)
	var rows []runRow
	err = s.db.NewRaw(claimNextSQL, string(StatusPreparing), instanceID, string(StatusQueued), string(StatusQueued)).
		Scan(ctx, &rows)
	if err != nil {
		return nil, s.translate(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0].run()
	return &r, nil
}

func (s *pgStore) List(ctx context.Context, f Filter, req page.Request) (_ page.Result[Run], err error) {
	defer derrors.Wrap(&err, "runs.List")
	q := s.db.NewSelect()
	if f.OwnerID != "" {
		q = q.Where("owner_id = ?", f.OwnerID)
	}
	if f.ProjectID != "" {
		q = q.Where("project_id = ?", f.ProjectID)
	}
	if f.RepositoryID != "" {
		q = q.Where("repository_id = ?", f.RepositoryID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	res, err := postgres.Page(ctx, q, req, func(row *runRow) *Run { r := row.run(); return &r }, runCursor)
	return res, s.translate(err)
}

func runCursor(r *Run) page.Cursor { return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID} }

func (s *pgStore) ListStatus(ctx context.Context, statuses ...Status) (_ []Run, err error) {
	defer derrors.Wrap(&err, "runs.ListStatus")
	var rows []runRow
	if err := s.db.NewSelect().Model(&rows).Where("status IN (?)", bun.List(statuses)).
		OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, s.translate(err)
	}
	out := make([]Run, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].run())
	}
	return out, nil
}

func (s *pgStore) RepositoryIDs(ctx context.Context) (out []string, err error) {
	defer derrors.Wrap(&err, "runs.RepositoryIDs")
	err = s.db.NewSelect().Model((*runRow)(nil)).ColumnExpr("DISTINCT repository_id").
		OrderExpr("repository_id").Scan(ctx, &out)
	return out, s.translate(err)
}

func (s *pgStore) DeleteRepositoryRuns(ctx context.Context, repositoryID string) (_ int, err error) {
	defer derrors.Wrap(&err, "runs.DeleteRepositoryRuns(%q)", repositoryID)
	res, err := s.db.NewDelete().Model((*runRow)(nil)).Where("repository_id = ?", repositoryID).Exec(ctx)
	if err != nil {
		return 0, s.translate(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *pgStore) Deleted(ctx context.Context, limit int) (out []string, err error) {
	defer derrors.Wrap(&err, "runs.Deleted")
	err = s.db.NewSelect().Table("run_deletions").Column("run_id").
		OrderExpr("deleted_at, run_id").Limit(limit).Scan(ctx, &out)
	return out, s.translate(err)
}

func (s *pgStore) Forget(ctx context.Context, ids []string) (err error) {
	defer derrors.Wrap(&err, "runs.Forget")
	if len(ids) == 0 {
		return nil
	}
	_, err = s.db.NewDelete().Table("run_deletions").Where("run_id IN (?)", bun.List(ids)).Exec(ctx)
	return s.translate(err)
}

func (s *pgStore) PutInstance(ctx context.Context, in *Instance) (err error) {
	defer derrors.Wrap(&err, "runs.PutInstance(%q)", in.ID)
	row := &instanceRow{ID: in.ID, Hostname: in.Hostname, BootID: in.BootID, PID: in.PID,
		StartedAt: postgres.Time(in.StartedAt), HeartbeatAt: postgres.Time(in.HeartbeatAt)}
	_, err = s.db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
		Set("hostname = EXCLUDED.hostname, boot_id = EXCLUDED.boot_id, pid = EXCLUDED.pid").
		Set("started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at").Exec(ctx)
	return s.translate(err)
}

func (s *pgStore) Instances(ctx context.Context) (_ []Instance, err error) {
	defer derrors.Wrap(&err, "runs.Instances")
	var rows []instanceRow
	if err := s.db.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, s.translate(err)
	}
	out := make([]Instance, 0, len(rows))
	for _, r := range rows {
		out = append(out, Instance{ID: r.ID, Hostname: r.Hostname, BootID: r.BootID, PID: r.PID,
			StartedAt: r.StartedAt.UTC(), HeartbeatAt: r.HeartbeatAt.UTC()})
	}
	return out, nil
}

func (s *pgStore) DeleteInstance(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "runs.DeleteInstance(%q)", id)
	_, err = s.db.NewDelete().Model((*instanceRow)(nil)).Where("id = ?", id).Exec(ctx)
	return s.translate(err)
}
