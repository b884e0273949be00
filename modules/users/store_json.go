package users

import (
	"context"
	"fmt"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// jsonStore keeps users in the embedded JSON store.
type jsonStore struct {
	db    *jsonstore.Store
	users *jsonstore.Collection[User]
}

var _ Store = (*jsonStore)(nil)

func newJSONStore(db *jsonstore.Store) (Store, error) {
	users, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[User]{
		Name:  "users",
		ID:    func(u *User) string { return u.ID },
		Order: func(u *User) page.Cursor { return page.Cursor{CreatedAt: u.CreatedAt, ID: u.ID} },
		Indexes: []jsonstore.Index[User]{
			// Users from an identity provider may have no email: not indexed.
			{Name: "email", Unique: true, Key: func(u *User) (string, bool) { return NormalizeEmail(u.Email), u.Email != "" }},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open users collection: %w", err)
	}
	return &jsonStore{db: db, users: users}, nil
}

func (s *jsonStore) Create(ctx context.Context, u *User) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.users.Insert(tx, u) })
}

func (s *jsonStore) Get(ctx context.Context, id string) (*User, error) {
	return s.users.GetOne(ctx, id)
}

func (s *jsonStore) GetByEmail(ctx context.Context, email string) (u *User, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		v, err := s.users.Lookup(tx, "email", NormalizeEmail(email))
		u = &v
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *jsonStore) Update(ctx context.Context, id string, fn func(*User) error) (*User, error) {
	return s.users.UpdateOne(ctx, id, fn)
}

func (s *jsonStore) List(ctx context.Context, req page.Request) (res page.Result[User], err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		res, err = s.users.List(tx, "", "", req)
		return err
	})
	return res, err
}
