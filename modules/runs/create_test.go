package runs_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// vanishedRepository lets the caller use a repository that the store does
// not hold: it was deleted between the service's check and its insert.
type vanishedRepository struct{ access.Repositories }

func (vanishedRepository) WritableRepository(_ context.Context, caller identity.Principal, id string) (access.Repository, error) {
	return access.Repository{ID: id, ProjectID: ids.New("prj"), OwnerID: caller.ID, URL: "https://h.example/a/b"}, nil
}

// TestCreateOnDeletedRepositoryIsNotFound: the store refuses a run of a
// repository deleted after the access check, and the caller is told the
// repository is gone (the store contract checks the refusal on both
// backends, with real concurrent deletes).
func TestCreateOnDeletedRepositoryIsNotFound(t *testing.T) {
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	store, err := runs.NewStore(&storage.Records{Backend: "json", JSON: db})
	require.NoError(t, err)
	s := apptest.Settings(t)
	s.Runs.Execute = false // no Docker, no queue: the store is all Create touches
	svc := runs.NewService(runs.ServiceParams{Store: store, Repos: vanishedRepository{}, Settings: s, Log: zap.NewNop()})

	repo := ids.New("rep")
	_, _, err = svc.Create(context.Background(), identity.Principal{ID: ids.New("usr")},
		runs.CreateInput{RepositoryID: repo, Prompt: "p"})
	var de *derrors.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, derrors.CodeNotFound, de.Code)
	require.Equal(t, "repository "+repo+" not found", de.Message)
	res, err := store.List(context.Background(), runs.Filter{RepositoryID: repo}, page.Request{})
	require.NoError(t, err)
	require.Empty(t, res.Items, "no orphan is left behind")
}

// TestAPIOnlyNeedsNoGit: an instance that never executes runs (the
// container image, which has no git) starts and accepts runs without git;
// one that executes them still refuses to start without it.
func TestAPIOnlyNeedsNoGit(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no git here
	a := apptest.Start(t, func(s *settings.Settings) { s.Runs.Execute = false })
	u := a.SignUp()
	require.Equal(t, http.StatusCreated, a.Post("/v1/projects", u.Token, map[string]any{"name": "p"}).Status)

	s := apptest.Settings(t)
	s.Runs.Execute = true
	_, err := runs.NewWorkspaces(s)
	require.ErrorContains(t, err, "git")
}
