package jsonstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestObserveSeesEveryCall checks that each View and Update, including the
// single-document helpers and failing calls, is reported once with its op.
func TestObserveSeesEveryCall(t *testing.T) {
	var mu sync.Mutex
	var ops []string
	observe := func(op string, took time.Duration) {
		require.GreaterOrEqual(t, took, time.Duration(0))
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{Observe: observe})
	mu.Lock()
	ops = nil // opening and registering are not calls
	mu.Unlock()

	insert(t, s, c, mkUser("u1", 0))
	_, err := c.GetOne(ctx, "u1")
	require.NoError(t, err)
	_, err = c.UpdateOne(ctx, "u1", func(u *user) error { u.Count++; return nil })
	require.NoError(t, err)
	boom := errors.New("boom")
	require.ErrorIs(t, s.View(ctx, func(*Tx) error { return boom }), boom)
	require.ErrorIs(t, s.Update(ctx, func(*Tx) error { return boom }), boom)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{OpUpdate, OpView, OpUpdate, OpView, OpUpdate}, ops)
}
