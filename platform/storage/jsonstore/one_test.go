package jsonstore

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func TestGetOne(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	u := mkUser("u1", 0)
	insert(t, s, c, u)

	got, err := c.GetOne(ctx, "u1")
	require.NoError(t, err)
	require.Equal(t, u, got)
	got.Count = 5
	again, err := c.GetOne(ctx, "u1")
	require.NoError(t, err)
	require.Equal(t, 0, again.Count, "a returned document is the caller's own copy")

	_, err = c.GetOne(ctx, "nope")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.EqualError(t, err, `users.Get("nope"): not found`)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.GetOne(cancelled, "u1")
	require.ErrorIs(t, err, context.Canceled)
}

func TestUpdateOne(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, mkUser("u1", 0), mkUser("u2", 0))
	stop := errors.New("stop")

	tests := []struct {
		name      string
		id        string
		fn        func(*user) error
		wantErr   func(t *testing.T, err error)
		wantCount int
	}{
		{"writes what fn leaves", "u1", func(u *user) error { u.Count = 7; return nil }, nil, 7},
		{"fn's error aborts unchanged", "u1", func(u *user) error { u.Count = 99; return stop },
			func(t *testing.T, err error) { require.Same(t, stop, err) }, 7},
		{"missing document is not found", "nope", func(u *user) error { t.Fatal("fn called"); return nil },
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, derrors.ErrNotFound)
				require.EqualError(t, err, `users.Get("nope"): not found`)
			}, 7},
		{"put's conflict is returned", "u1", func(u *user) error { u.Email = "u2@example.com"; return nil },
			func(t *testing.T, err error) { require.ErrorIs(t, err, derrors.ErrConflict) }, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.UpdateOne(ctx, tt.id, tt.fn)
			if tt.wantErr != nil {
				tt.wantErr(t, err)
				require.Nil(t, got)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.wantCount, got.Count)
			}
			stored, err := get(t, s, c, "u1")
			require.NoError(t, err)
			require.Equal(t, tt.wantCount, stored.Count)
			require.Equal(t, "u1@example.com", stored.Email)
		})
	}
}

func TestUpdateOneRefusesToChangeTheID(t *testing.T) {
	s, users := openUsers(t, t.TempDir(), Options{})
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return users.Insert(tx, mkUser("u1", 0)) }))
	_, err := users.UpdateOne(ctx, "u1", func(u *user) error { u.ID = "u2"; return nil })
	require.ErrorContains(t, err, "changed the id")
	_, err = users.GetOne(ctx, "u2")
	require.ErrorIs(t, err, derrors.ErrNotFound, "nothing was written")
}
