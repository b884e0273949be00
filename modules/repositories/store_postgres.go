package repositories

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

// pgStore keeps repositories in PostgreSQL
// (migrations/*_create_repositories.*). The foreign key to projects deletes
// a project's repositories with it and refuses one for a missing project.
type pgStore struct {
	db   *bun.DB
	byID *postgres.Lookup[repositoryRow]
}

var _ Store = (*pgStore)(nil)

func newPostgresStore(db *bun.DB) *pgStore {
	return &pgStore{db: db, byID: postgres.NewLookup[repositoryRow](db, "id")}
}

// repositoryRow is the repositories table; Repository stays free of
// storage tags.
type repositoryRow struct {
	bun.BaseModel `bun:"table:repositories"`

	ID            string    `bun:"id,pk"`
	ProjectID     string    `bun:"project_id"`
	Name          string    `bun:"name"`
	URL           string    `bun:"url"`
	DefaultBranch string    `bun:"default_branch"`
	CreatedAt     time.Time `bun:"created_at"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

func toRow(r *Repository) *repositoryRow {
	return &repositoryRow{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, URL: r.URL,
		DefaultBranch: r.DefaultBranch, CreatedAt: pgTime(r.CreatedAt), UpdatedAt: pgTime(r.UpdatedAt)}
}

func (row *repositoryRow) repository() *Repository {
	return &Repository{ID: row.ID, ProjectID: row.ProjectID, Name: row.Name, URL: row.URL,
		DefaultBranch: row.DefaultBranch, CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}
}

// pgTime is t as PostgreSQL keeps it: UTC, microseconds.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// errNoProject is the cause of the error Create returns when the project
// does not exist (deleted meanwhile); it matches derrors.ErrConflict.
var errNoProject = errors.New("project does not exist")

// translate maps driver errors to the categories callers test for.
func (s *pgStore) translate(err error) error {
	switch postgres.SQLState(err) {
	case postgres.CodeUniqueViolation:
		if postgres.Constraint(err) == "repositories_pkey" {
			return derrors.Conflict("repositories.id", err)
		}
		return derrors.Conflict("repositories", err)
	case postgres.CodeForeignKeyViolation:
		return derrors.Conflict("repositories.project_id", fmt.Errorf("%w: %w", errNoProject, err))
	}
	return postgres.Translate(err)
}

func (s *pgStore) Create(ctx context.Context, r *Repository) (err error) {
	defer derrors.Wrap(&err, "repositories.Create(%q)", r.ID)
	_, err = s.db.NewInsert().Model(toRow(r)).Exec(ctx)
	return s.translate(err)
}

func (s *pgStore) Get(ctx context.Context, id string) (_ *Repository, err error) {
	defer derrors.Wrap(&err, "repositories.Get(%q)", id)
	var row repositoryRow
	if err := s.byID.Get(ctx, &row, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, derrors.ErrNotFound
		}
		return nil, s.translate(err)
	}
	return row.repository(), nil
}

// Update locks the row (SELECT … FOR UPDATE) for the read-modify-write, so
// concurrent updates of one repository queue up and none is lost.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*Repository) error) (*Repository, error) {
	var out *Repository
	var fnErr error
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row repositoryRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return derrors.ErrNotFound
			}
			return err
		}
		r := row.repository()
		if fnErr = fn(r); fnErr != nil {
			return fnErr
		}
		next := toRow(r)
		next.ID = id // the key is not the callback's to change
		if _, err := tx.NewUpdate().Model(next).WherePK().Exec(ctx); err != nil {
			return err
		}
		out = next.repository()
		return nil
	})
	switch {
	case fnErr != nil:
		return nil, fnErr
	case errors.Is(err, derrors.ErrNotFound):
		return nil, fmt.Errorf("repositories.Update(%q): %w", id, err)
	case err != nil:
		return nil, fmt.Errorf("repositories.Update(%q): %w", id, s.translate(err))
	}
	return out, nil
}

func (s *pgStore) Delete(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "repositories.Delete(%q)", id)
	res, err := s.db.NewDelete().Model((*repositoryRow)(nil)).Where("id = ?", id).Exec(ctx)
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
// index (project_id, created_at, id) answers in order.
func (s *pgStore) List(ctx context.Context, projectID string, req page.Request) (_ page.Result[Repository], err error) {
	defer derrors.Wrap(&err, "repositories.List(%q)", projectID)
	limit := req.Limit
	if limit <= 0 {
		limit = page.DefaultLimit
	}
	limit = min(limit, page.MaxLimit)
	var rows []repositoryRow
	q := s.db.NewSelect().Model(&rows).Where("project_id = ?", projectID).OrderExpr("created_at, id").Limit(limit + 1)
	if !req.After.IsZero() {
		q = q.Where("(created_at, id) > (?, ?)", pgTime(req.After.CreatedAt), req.After.ID)
	}
	if err := q.Scan(ctx); err != nil {
		return page.Result[Repository]{}, s.translate(err)
	}
	n := min(len(rows), limit)
	res := page.Result[Repository]{Items: make([]Repository, 0, n)}
	for i := range rows[:n] {
		res.Items = append(res.Items, *rows[i].repository())
	}
	if len(rows) > limit {
		last := res.Items[limit-1]
		res.Next = page.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return res, nil
}
