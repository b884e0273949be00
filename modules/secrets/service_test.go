package secrets

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

// vanishingProjects lets the caller change a project that the store does
// not hold: the project was deleted between the service's check and its
// insert.
type vanishingProjects struct{ owner string }

func (v vanishingProjects) VisibleProject(_ context.Context, _ identity.Principal, id string) (string, error) {
	return "", derrors.NotFound("project", id)
}

func (v vanishingProjects) WritableProject(context.Context, identity.Principal, string) (string, error) {
	return v.owner, nil
}

func testService(t *testing.T, projects vanishingProjects) (*Service, Store) {
	t.Helper()
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	store, err := newJSONStore(db)
	require.NoError(t, err)
	keys, err := NewKeyring(key(1))
	require.NoError(t, err)
	return NewService(store, projects, keys, zap.NewNop()), store
}

// TestPutRaceWithProjectDelete: a project deleted after the service's
// access check makes the store refuse the insert, and the caller is told
// the project is gone (the store contract checks the same on both
// backends, with real concurrent deletes).
func TestPutRaceWithProjectDelete(t *testing.T) {
	owner := ids.New("usr")
	svc, store := testService(t, vanishingProjects{owner: owner})
	pid := ids.New("prj")
	err := svc.Put(context.Background(), identity.Principal{ID: owner}, pid, "KEY", "a value")
	var ae *derrors.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, derrors.CodeNotFound, ae.Code)
	require.Equal(t, "project "+pid+" not found", ae.Message)
	all, err := store.All(context.Background(), pid)
	require.NoError(t, err)
	require.Empty(t, all, "no orphan is left behind")
}
