package users

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
)

// pgStore keeps users in PostgreSQL (migrations/*_create_users.*).
type pgStore struct {
	db   *bun.DB
	byID *postgres.Lookup[userRow]
}

var _ Store = (*pgStore)(nil)

func newPostgresStore(db *bun.DB) Store {
	return &pgStore{db: db, byID: postgres.NewLookup[userRow](db, "id")}
}

// userRow is the users table; User stays free of storage tags.
type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID             string    `bun:"id,pk"`
	Email          string    `bun:"email"`
	DisplayName    string    `bun:"display_name"`
	PasswordHash   string    `bun:"password_hash"`
	Groups         []string  `bun:"groups,array"`
	ExternalGroups []string  `bun:"external_groups,array"`
	Disabled       bool      `bun:"disabled"`
	External       bool      `bun:"external"`
	CreatedAt      time.Time `bun:"created_at"`
	UpdatedAt      time.Time `bun:"updated_at"`
}

func toUserRow(u *User) *userRow {
	return &userRow{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, PasswordHash: u.PasswordHash,
		Groups: nonNil(u.Groups), ExternalGroups: nonNil(u.ExternalGroups),
		Disabled: u.Disabled, External: u.External,
		CreatedAt: postgres.Time(u.CreatedAt), UpdatedAt: postgres.Time(u.UpdatedAt),
	}
}

// user converts a row back. Empty external groups read as nil and empty
// groups as [], as the JSON store returns them.
func (r *userRow) user() *User {
	u := &User{
		ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, PasswordHash: r.PasswordHash,
		Groups: nonNil(r.Groups), Disabled: r.Disabled, External: r.External,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if len(r.ExternalGroups) > 0 {
		u.ExternalGroups = r.ExternalGroups
	}
	return u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// translate maps driver errors to the categories callers test for.
func (s *pgStore) translate(err error) error {
	switch postgres.SQLState(err) {
	case postgres.CodeUniqueViolation:
		switch postgres.Constraint(err) {
		case "users_email_key":
			return derrors.Conflict("users.email", err)
		case "users_pkey":
			return derrors.Conflict("users.id", err)
		}
		return derrors.Conflict("users", err)
	}
	return postgres.Translate(err)
}

func (s *pgStore) Create(ctx context.Context, u *User) (err error) {
	defer derrors.Wrap(&err, "users.Create(%q)", u.ID)
	_, err = s.db.NewInsert().Model(toUserRow(u)).Exec(ctx)
	return s.translate(err)
}

func (s *pgStore) Get(ctx context.Context, id string) (_ *User, err error) {
	defer derrors.Wrap(&err, "users.Get(%q)", id)
	var row userRow
	if err := s.byID.Get(ctx, &row, id); err != nil {
		return nil, s.translate(err)
	}
	return row.user(), nil
}

func (s *pgStore) GetByEmail(ctx context.Context, email string) (_ *User, err error) {
	defer derrors.Wrap(&err, "users.GetByEmail(%q)", email)
	// Both terms are needed for the planner to use the partial unique index.
	return s.one(ctx, s.db.NewSelect().Where("lower(email) = ?", NormalizeEmail(email)).Where("email <> ''"))
}

func (s *pgStore) one(ctx context.Context, q *bun.SelectQuery) (*User, error) {
	var row userRow
	if err := q.Model(&row).Limit(1).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, derrors.ErrNotFound
		}
		return nil, s.translate(err)
	}
	return row.user(), nil
}

// Update locks the row (SELECT … FOR UPDATE) for the read-modify-write, so
// concurrent updates of one user queue up and none is lost. fn's own error
// is returned as it is.
func (s *pgStore) Update(ctx context.Context, id string, fn func(*User) error) (*User, error) {
	row, err := postgres.UpdateByID(ctx, s.db, "users.Update", id, s.translate, func(row *userRow) (*userRow, error) {
		u := row.user()
		if err := fn(u); err != nil {
			return nil, err
		}
		next := toUserRow(u)
		next.ID = id // the key is not the callback's to change
		return next, nil
	}, func(ctx context.Context, tx bun.Tx) error {
		// Delivered at commit to every instance's change watcher.
		_, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", changesChannel, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return row.user(), nil
}

func (s *pgStore) List(ctx context.Context, req page.Request) (_ page.Result[User], err error) {
	defer derrors.Wrap(&err, "users.List")
	res, err := postgres.Page(ctx, s.db.NewSelect(), req, (*userRow).user, userCursor)
	return res, s.translate(err)
}

func userCursor(u *User) page.Cursor { return page.Cursor{CreatedAt: u.CreatedAt, ID: u.ID} }

// changesChannel is the PostgreSQL NOTIFY channel carrying the id of every
// changed user, so each instance's principal cache drops it at once.
const changesChannel = "slipway_user_changes"

var _ changeWatcher = (*pgStore)(nil)

// WatchChanges listens on changesChannel until ctx ends, calling changed(id)
// for each notification. reliable(true) is called once listening works and
// reliable(false) whenever notifications may be lost (a broken listener
// connection), so the cache can stop trusting itself until it listens again.
func (s *pgStore) WatchChanges(ctx context.Context, changed func(id string), reliable func(bool)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ln := pgdriver.NewListener(s.db)
		// Receive does not return on ctx: closing the listener unblocks it.
		stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
		if err := ln.Listen(ctx, changesChannel); err != nil {
			stop()
			_ = ln.Close()
			reliable(false)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		reliable(true)
		for {
			_, id, err := ln.Receive(ctx)
			if err != nil {
				reliable(false)
				break
			}
			changed(id)
		}
		stop()
		_ = ln.Close()
	}
}
