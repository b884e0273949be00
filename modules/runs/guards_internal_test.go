package runs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/settings"
)

// TestIdempotencyKeyExpires moves the service's clock past
// runs.idempotency_ttl: the key then names no run, even before any sweep
// has forgotten it, and the same request makes a new run.
func TestIdempotencyKeyExpires(t *testing.T) {
	store, projectID, repoID := testStore(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := &Service{store: store, repos: oneRepository{url: "file:///r", projectID: projectID}, tuning: DefaultTuning(), log: zap.NewNop(),
		now: func() time.Time { return now },
		cfg: settings.Runs{MaxActivePerUser: 10, MaxPromptBytes: 100, DefaultTimeout: time.Minute, MaxTimeout: time.Hour,
			IdempotencyTTL: time.Hour, MaxIdempotencyKeys: 10}}
	caller := identity.Principal{ID: "usr_1"}
	in := CreateInput{RepositoryID: repoID, Prompt: "p", IdempotencyKey: "k"}
	ctx := context.Background()

	first, replayed, err := s.Create(ctx, caller, in)
	require.NoError(t, err)
	require.False(t, replayed)
	now = now.Add(time.Hour)
	again, replayed, err := s.Create(ctx, caller, in)
	require.NoError(t, err)
	require.True(t, replayed, "within the TTL the key replays")
	require.Equal(t, first.ID, again.ID)

	now = now.Add(time.Microsecond)
	fresh, replayed, err := s.Create(ctx, caller, in)
	require.NoError(t, err)
	require.False(t, replayed, "past the TTL the key names no run")
	require.NotEqual(t, first.ID, fresh.ID)
	old, err := store.Get(ctx, first.ID)
	require.NoError(t, err)
	require.Empty(t, old.IdempotencyKey, "the old run lost its key")
}
