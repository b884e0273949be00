package projects

import (
	"context"
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

func newPostgresStore(db *bun.DB) Store {
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
		CreatedAt: postgres.Time(p.CreatedAt), UpdatedAt: postgres.Time(p.UpdatedAt)}
}

func (r *projectRow) project() *Project {
	return &Project{ID: r.ID, OwnerID: r.OwnerID, Name: r.Name, Description: r.Description,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

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
		return nil, s.translate(err)
	}
	return row.project(), nil
}

// Update locks the row (SELECT … FOR UPDATE) for the read-modify-write, so
// concurrent updates of one project queue up and none is lost. fn's own
// error is returned as it is.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*Project) error) (*Project, error) {
	row, err := postgres.UpdateByID(ctx, s.db, "projects.Update", id, s.translate, func(row *projectRow) (*projectRow, error) {
		p := row.project()
		if err := fn(p); err != nil {
			return nil, err
		}
		next := toRow(p)
		next.ID = id // the key is not the callback's to change
		return next, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return row.project(), nil
}

func (s *pgStore) Delete(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "projects.Delete(%q)", id)
	return s.translate(postgres.DeleteByID[projectRow](ctx, s.db, id))
}

// List pages with a row-value comparison on (created_at, id), which the
// indexes (owner_id, created_at, id) and (created_at, id) answer in order.
func (s *pgStore) List(ctx context.Context, ownerID string, req page.Request) (_ page.Result[Project], err error) {
	defer derrors.Wrap(&err, "projects.List(%q)", ownerID)
	q := s.db.NewSelect()
	if ownerID != "" {
		q = q.Where("owner_id = ?", ownerID)
	}
	res, err := postgres.Page(ctx, q, req, (*projectRow).project, projectCursor)
	return res, s.translate(err)
}

func projectCursor(p *Project) page.Cursor { return page.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} }
