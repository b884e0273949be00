package jsonstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// user is the document the tests store: a unique normalised email, a
// non-unique org, a nullable unique handle.
type user struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Org       string    `json:"org,omitempty"`
	Handle    *string   `json:"handle,omitempty"`
	Count     int       `json:"count"`
	Tags      []string  `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func userSpec() CollectionSpec[user] {
	return CollectionSpec[user]{
		Name:  "users",
		ID:    func(u *user) string { return u.ID },
		Order: func(u *user) page.Cursor { return page.Cursor{CreatedAt: u.CreatedAt, ID: u.ID} },
		Indexes: []Index[user]{
			{Name: "email", Unique: true, Key: func(u *user) (string, bool) { return strings.ToLower(u.Email), true }},
			{Name: "org", Key: func(u *user) (string, bool) { return u.Org, u.Org != "" }},
			{Name: "handle", Unique: true, Key: func(u *user) (string, bool) {
				if u.Handle == nil {
					return "", false
				}
				return *u.Handle, true
			}},
		},
	}
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func mkUser(id string, at time.Duration) *user {
	return &user{ID: id, Email: id + "@example.com", CreatedAt: t0.Add(at)}
}

// openStore opens dir and closes it at cleanup.
func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// openUsers opens dir and registers the users collection.
func openUsers(t testing.TB, dir string, opts Options) (*Store, *Collection[user]) {
	t.Helper()
	s := openStore(t, dir, opts)
	c, err := NewCollection(s, userSpec())
	require.NoError(t, err)
	return s, c
}

func insert(t testing.TB, s *Store, c *Collection[user], us ...*user) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx *Tx) error {
		for _, u := range us {
			if err := c.Insert(tx, u); err != nil {
				return err
			}
		}
		return nil
	}))
}

func get(t testing.TB, s *Store, c *Collection[user], id string) (user, error) {
	t.Helper()
	var u user
	err := s.View(context.Background(), func(tx *Tx) error {
		var err error
		u, err = c.Get(tx, id)
		return err
	})
	return u, err
}

func lookup(t testing.TB, s *Store, c *Collection[user], index, key string) (user, error) {
	t.Helper()
	var u user
	err := s.View(context.Background(), func(tx *Tx) error {
		var err error
		u, err = c.Lookup(tx, index, key)
		return err
	})
	return u, err
}

func count(t testing.TB, s *Store, c *Collection[user], index, key string) int {
	t.Helper()
	var n int
	require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
		var err error
		n, err = c.Count(tx, index, key)
		return err
	}))
	return n
}

func ids(us []user) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}
