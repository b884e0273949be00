package secrets

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

// pgStore keeps secrets in PostgreSQL (migrations/*_create_secrets.*). The
// foreign key to projects deletes a project's secrets with it and refuses
// one for a missing project.
type pgStore struct {
	db *bun.DB
}

var _ Store = (*pgStore)(nil)

func newPostgresStore(db *bun.DB) Store { return &pgStore{db: db} }

// putLockSpace is the first key of the advisory locks that serialise the
// writes of one project's secrets (the second is a hash of the project
// id); the runs module's quota uses another.
const putLockSpace = 7302

// secretRow is the secrets table; Secret stays free of storage tags.
type secretRow struct {
	bun.BaseModel `bun:"table:secrets"`

	ID         string    `bun:"id,pk"`
	ProjectID  string    `bun:"project_id"`
	Name       string    `bun:"name"`
	KeyID      string    `bun:"key_id"`
	Ciphertext []byte    `bun:"ciphertext,type:bytea"`
	CreatedAt  time.Time `bun:"created_at"`
	UpdatedAt  time.Time `bun:"updated_at"`
}

func toRow(s *Secret) *secretRow {
	return &secretRow{ID: s.ID, ProjectID: s.ProjectID, Name: s.Name, KeyID: s.KeyID, Ciphertext: s.Ciphertext,
		CreatedAt: postgres.Time(s.CreatedAt), UpdatedAt: postgres.Time(s.UpdatedAt)}
}

func (row *secretRow) secret() *Secret {
	return &Secret{ID: row.ID, ProjectID: row.ProjectID, Name: row.Name, KeyID: row.KeyID, Ciphertext: row.Ciphertext,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}
}

// translate maps driver errors to the categories callers test for.
func (s *pgStore) translate(err error) error {
	if postgres.SQLState(err) == postgres.CodeUniqueViolation {
		if postgres.Constraint(err) == "secrets_pkey" {
			return derrors.Conflict("secrets.id", err)
		}
		return derrors.Conflict("secrets", err)
	}
	return postgres.Translate(err)
}

// Put holds a transaction-scoped advisory lock on the project while it
// reads the sizes of the project's secrets, asks admit and upserts, so two
// writes to one project never both see room for one more secret.
func (s *pgStore) Put(ctx context.Context, sec *Secret, admit func(Usage) error) (created bool, err error) {
	var admitErr error
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(?))", putLockSpace, sec.ProjectID); err != nil {
			return err
		}
		var sizes []struct {
			Name  string `bun:"name"`
			Bytes int    `bun:"bytes"`
		}
		if err := tx.NewSelect().Model((*secretRow)(nil)).Column("name").ColumnExpr("octet_length(ciphertext) AS bytes").
			Where("project_id = ?", sec.ProjectID).Scan(ctx, &sizes); err != nil {
			return err
		}
		var u Usage
		created = true
		for _, o := range sizes {
			if o.Name == sec.Name {
				created = false
				continue
			}
			u.Count++
			u.CiphertextBytes += o.Bytes
		}
		if admitErr = admit(u); admitErr != nil {
			return admitErr
		}
		_, err := tx.NewInsert().Model(toRow(sec)).
			On("CONFLICT (project_id, name) DO UPDATE").
			Set("key_id = EXCLUDED.key_id").
			Set("ciphertext = EXCLUDED.ciphertext").
			Set("updated_at = EXCLUDED.updated_at").
			Exec(ctx)
		return err
	})
	switch {
	case admitErr != nil:
		return false, admitErr // as it is, as promised
	case err != nil:
		return false, fmt.Errorf("secrets.Put(%q, %q): %w", sec.ProjectID, sec.Name, s.translate(err))
	}
	return created, nil
}

func (s *pgStore) Get(ctx context.Context, projectID, name string) (_ *Secret, err error) {
	defer derrors.Wrap(&err, "secrets.Get(%q, %q)", projectID, name)
	var row secretRow
	err = s.db.NewSelect().Model(&row).Where("project_id = ?", projectID).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, derrors.ErrNotFound
	}
	if err != nil {
		return nil, s.translate(err)
	}
	return row.secret(), nil
}

func (s *pgStore) Delete(ctx context.Context, projectID, name string) (err error) {
	defer derrors.Wrap(&err, "secrets.Delete(%q, %q)", projectID, name)
	res, err := s.db.NewDelete().Model((*secretRow)(nil)).Where("project_id = ?", projectID).Where("name = ?", name).Exec(ctx)
	if err != nil {
		return s.translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.translate(err)
	}
	if n == 0 {
		return derrors.ErrNotFound
	}
	return nil
}

// List pages with a row-value comparison on (created_at, id), which the
// index (project_id, created_at, id) answers in order.
func (s *pgStore) List(ctx context.Context, projectID string, req page.Request) (_ page.Result[Secret], err error) {
	defer derrors.Wrap(&err, "secrets.List(%q)", projectID)
	q := s.db.NewSelect().Where("project_id = ?", projectID)
	res, err := postgres.Page(ctx, q, req, (*secretRow).secret, secretCursor)
	return res, s.translate(err)
}

func (s *pgStore) All(ctx context.Context, projectID string) (_ []Secret, err error) {
	defer derrors.Wrap(&err, "secrets.All(%q)", projectID)
	var rows []secretRow
	if err := s.db.NewSelect().Model(&rows).Where("project_id = ?", projectID).OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, s.translate(err)
	}
	out := make([]Secret, 0, len(rows))
	for i := range rows {
		out = append(out, *rows[i].secret())
	}
	return out, nil
}

func secretCursor(s *Secret) page.Cursor {
	return page.Cursor{CreatedAt: s.CreatedAt, ID: s.ID}
}
