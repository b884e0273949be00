package projects

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
)

// pgStore keeps projects in PostgreSQL (migrations/*_create_projects.*).
// What belongs to a project is deleted with it by the schema's foreign keys
// (ON DELETE CASCADE), in the same statement.
type pgStore struct {
	db   *bun.DB
	byID *postgres.Lookup[projectRow]
}

var _ Store = (*pgStore)(nil)

func newPostgresStore(db *bun.DB) *pgStore {
	return &pgStore{db: db, byID: postgres.NewLookup[projectRow](db, "id")}
}

// projectRow is the projects table; Project stays free of storage tags.
type projectRow struct {
	bun.BaseModel `bun:"table:projects"`

	ID          string    `bun:"id,pk"`
	OwnerID     string    `bun:"owner_id"`
	Name        string    `bun:"name"`
	Description string    `bun:"description"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

func toRow(p *Project) *projectRow {
	return &projectRow{ID: p.ID, OwnerID: p.OwnerID, Name: p.Name, Description: p.Description,
		CreatedAt: pgTime(p.CreatedAt), UpdatedAt: pgTime(p.UpdatedAt)}
}

func (r *projectRow) project() *Project {
	return &Project{ID: r.ID, OwnerID: r.OwnerID, Name: r.Name, Description: r.Description,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// pgTime is t as PostgreSQL keeps it: UTC, microseconds.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// errNoOwner is the cause of the error Create and Update return when the
// owner does not exist (deleted meanwhile); it matches derrors.ErrConflict.
var errNoOwner = errors.New("owner does not exist")

// translate maps driver errors to the categories callers test for.
func (s *pgStore) translate(err error) error {
	switch postgres.SQLState(err) {
	case postgres.CodeUniqueViolation:
		if postgres.Constraint(err) == "projects_pkey" {
			return derrors.Conflict("projects.id", err)
		}
		return derrors.Conflict("projects", err)
	case postgres.CodeForeignKeyViolation:
		return derrors.Conflict("projects.owner_id", fmt.Errorf("%w: %w", errNoOwner, err))
	}
	return postgres.Translate(err)
}

func (s *pgStore) Create(ctx context.Context, p *Project) (err error) {
	defer derrors.Wrap(&err, "projects.Create(%q)", p.ID)
	_, err = s.db.NewInsert().Model(toRow(p)).Exec(ctx)
	return s.translate(err)
}

func (s *pgStore) Get(ctx context.Context, id string) (_ *Project, err error) {
	defer derrors.Wrap(&err, "projects.Get(%q)", id)
	var row projectRow
	if err := s.byID.Get(ctx, &row, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, derrors.ErrNotFound
		}
		return nil, s.translate(err)
	}
	return row.project(), nil
}

// Update locks the row (SELECT … FOR UPDATE) for the read-modify-write, so
// concurrent updates of one project queue up and none is lost. fn's own
// error is returned as it is.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*Project) error) (*Project, error) {
	var out *Project
	var fnErr error
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row projectRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return derrors.ErrNotFound
			}
			return err
		}
		p := row.project()
		if fnErr = fn(p); fnErr != nil {
			return fnErr
		}
		next := toRow(p)
		next.ID = id // the key is not the callback's to change
		if _, err := tx.NewUpdate().Model(next).WherePK().Exec(ctx); err != nil {
			return err
		}
		out = next.project()
		return nil
	})
	switch {
	case fnErr != nil:
		return nil, fnErr
	case errors.Is(err, derrors.ErrNotFound):
		return nil, fmt.Errorf("projects.Update(%q): %w", id, err)
	case err != nil:
		return nil, fmt.Errorf("projects.Update(%q): %w", id, s.translate(err))
	}
	return out, nil
}

func (s *pgStore) Delete(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "projects.Delete(%q)", id)
	res, err := s.db.NewDelete().Model((*projectRow)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return s.translate(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.translate(err)
	} else if n == 0 {
		return derrors.ErrNotFound
	}
	return nil
}

// List pages with a row-value comparison on (created_at, id), which the
// indexes (owner_id, created_at, id) and (created_at, id) answer in order.
func (s *pgStore) List(ctx context.Context, ownerID string, req page.Request) (_ page.Result[Project], err error) {
	defer derrors.Wrap(&err, "projects.List(%q)", ownerID)
	limit := req.Limit
	if limit <= 0 {
		limit = page.DefaultLimit
	}
	limit = min(limit, page.MaxLimit)
	var rows []projectRow
	q := s.db.NewSelect().Model(&rows).OrderExpr("created_at, id").Limit(limit + 1)
	if ownerID != "" {
		q = q.Where("owner_id = ?", ownerID)
	}
	if !req.After.IsZero() {
		q = q.Where("(created_at, id) > (?, ?)", pgTime(req.After.CreatedAt), req.After.ID)
	}
	if err := q.Scan(ctx); err != nil {
		return page.Result[Project]{}, s.translate(err)
	}
	n := min(len(rows), limit)
	res := page.Result[Project]{Items: make([]Project, 0, n)}
	for i := range rows[:n] {
		res.Items = append(res.Items, *rows[i].project())
	}
	if len(rows) > limit {
		last := res.Items[limit-1]
		res.Next = page.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return res, nil
}
