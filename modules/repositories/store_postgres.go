package repositories

import (
	"context"
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

func newPostgresStore(db *bun.DB) Store {
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
		DefaultBranch: r.DefaultBranch, CreatedAt: postgres.Time(r.CreatedAt), UpdatedAt: postgres.Time(r.UpdatedAt)}
}

func (row *repositoryRow) repository() *Repository {
	return &Repository{ID: row.ID, ProjectID: row.ProjectID, Name: row.Name, URL: row.URL,
		DefaultBranch: row.DefaultBranch, CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}
}

// translate maps driver errors to the categories callers test for.
func (s *pgStore) translate(err error) error {
	switch postgres.SQLState(err) {
	case postgres.CodeUniqueViolation:
		if postgres.Constraint(err) == "repositories_pkey" {
			return derrors.Conflict("repositories.id", err)
		}
		return derrors.Conflict("repositories", err)
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
		return nil, s.translate(err)
	}
	return row.repository(), nil
}

// Update locks the row (SELECT … FOR UPDATE) for the read-modify-write, so
// concurrent updates of one repository queue up and none is lost.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*Repository) error) (*Repository, error) {
	row, err := postgres.UpdateByID(ctx, s.db, "repositories.Update", id, s.translate, func(row *repositoryRow) (*repositoryRow, error) {
		r := row.repository()
		if err := fn(r); err != nil {
			return nil, err
		}
		next := toRow(r)
		next.ID = id // the key is not the callback's to change
		return next, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return row.repository(), nil
}

func (s *pgStore) Delete(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "repositories.Delete(%q)", id)
	return s.translate(postgres.DeleteByID[repositoryRow](ctx, s.db, id))
}

// List pages with a row-value comparison on (created_at, id), which the
// index (project_id, created_at, id) answers in order.
func (s *pgStore) List(ctx context.Context, projectID string, req page.Request) (_ page.Result[Repository], err error) {
	defer derrors.Wrap(&err, "repositories.List(%q)", projectID)
	q := s.db.NewSelect().Where("project_id = ?", projectID)
	res, err := postgres.Page(ctx, q, req, (*repositoryRow).repository, repositoryCursor)
	return res, s.translate(err)
}

func repositoryCursor(r *Repository) page.Cursor {
	return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
}
