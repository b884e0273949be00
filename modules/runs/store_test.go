package runs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/modules/runs/storetest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// parentDoc stands in for the projects and repositories modules'
// documents: the JSON store references parents by collection name, so runs
// need no more of them than their ids (domains do not import each other).
type parentDoc struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id,omitempty"`
}

func TestJSONStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		projects, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{
			Name: "projects", ID: func(d *parentDoc) string { return d.ID }})
		require.NoError(t, err)
		repos, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[parentDoc]{
			Name: "repositories", ID: func(d *parentDoc) string { return d.ID },
			Indexes: []jsonstore.Index[parentDoc]{{Name: "project_id", References: "projects",
				Key: func(d *parentDoc) (string, bool) { return d.ProjectID, true }}},
		})
		require.NoError(t, err)
		s, err := runs.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
		require.NoError(t, err)
		ctx := context.Background()
		return storetest.Backend{
			Store: s,
			Repository: func(t *testing.T, _ string) (string, string) {
				project, repo := ids.New("prj"), ids.New("rep")
				require.NoError(t, db.Update(ctx, func(tx *jsonstore.Tx) error {
					if err := projects.Insert(tx, &parentDoc{ID: project}); err != nil {
						return err
					}
					return repos.Insert(tx, &parentDoc{ID: repo, ProjectID: project})
				}))
				return project, repo
			},
			DeleteRepository: func(t *testing.T, id string) {
				require.NoError(t, db.Update(ctx, func(tx *jsonstore.Tx) error { return repos.Delete(tx, id) }))
			},
		}
	})
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db := pgtest.Open(t, pgtest.NewDB(t))
		s, err := runs.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
		require.NoError(t, err)
		return storetest.Backend{Store: s, Repository: func(t *testing.T, owner string) (string, string) {
			ctx := context.Background()
			project, repo := ids.New("prj"), ids.New("rep")
			_, err := db.ExecContext(ctx, `INSERT INTO users (id, email, created_at, updated_at)
				VALUES (?, '', now(), now()) ON CONFLICT DO NOTHING`, owner)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `INSERT INTO projects (id, owner_id, name, created_at, updated_at)
				VALUES (?, ?, 'p', now(), now())`, project, owner)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `INSERT INTO repositories (id, project_id, name, url, created_at, updated_at)
				VALUES (?, ?, 'r', 'https://example.com/r.git', now(), now())`, repo, project)
			require.NoError(t, err)
			return project, repo
		}, DeleteRepository: func(t *testing.T, id string) {
			res, err := db.ExecContext(context.Background(), "DELETE FROM repositories WHERE id = ?", id)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
		}}
	})
}

// TestPostgresCascadeRecordsDeletedRuns deletes a project and requires its
// runs gone with it and recorded for object clean-up.
func TestPostgresCascadeRecordsDeletedRuns(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	s, err := runs.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
	require.NoError(t, err)
	ctx := context.Background()
	owner, project, repo := insertRepository(t, db)
	run := &runs.Run{ID: ids.New(runs.IDPrefix), ProjectID: project, RepositoryID: repo, OwnerID: owner,
		Status: runs.StatusQueued, Prompt: "p", TimeoutSeconds: 1}
	_, err = s.Create(ctx, run, 5)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, project)
	require.NoError(t, err)
	_, err = s.Get(ctx, run.ID)
	require.Error(t, err)
	deleted, err := s.Deleted(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{run.ID}, deleted)
}

// TestPostgresClaimSkipsAClaimInProgress holds the oldest queued run's row
// lock, as a claim in progress does, and requires the next claim to take
// the second oldest at once rather than wait for it.
func TestPostgresClaimSkipsAClaimInProgress(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	s, err := runs.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
	require.NoError(t, err)
	ctx := context.Background()
	owner, project, repo := insertRepository(t, db)
	var made []string
	for i := range 2 {
		run := &runs.Run{ID: ids.New(runs.IDPrefix), ProjectID: project, RepositoryID: repo, OwnerID: owner,
			Status: runs.StatusQueued, Prompt: "p", TimeoutSeconds: 1, CreatedAt: time.Unix(int64(1000+i), 0).UTC()}
		_, err = s.Create(ctx, run, 5)
		require.NoError(t, err)
		made = append(made, run.ID)
	}

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	var locked string
	require.NoError(t, tx.NewRaw(`SELECT id FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1 FOR UPDATE`).Scan(ctx, &locked))
	require.Equal(t, made[0], locked)

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	run, err := s.ClaimNext(cctx, "ins_b")
	require.NoError(t, err, "the claim does not wait for the one in progress")
	require.NotNil(t, run)
	require.Equal(t, made[1], run.ID)
	none, err := s.ClaimNext(cctx, "ins_b")
	require.NoError(t, err)
	require.Nil(t, none, "the locked run is not there to claim")

	require.NoError(t, tx.Rollback())
	run, err = s.ClaimNext(ctx, "ins_c")
	require.NoError(t, err)
	require.Equal(t, made[0], run.ID, "released, it is claimed")
}

// insertRepository adds a user, a project of theirs and a repository in
// it, for runs to belong to, and returns the three ids.
func insertRepository(t *testing.T, db *bun.DB) (owner, project, repo string) {
	t.Helper()
	owner, project, repo = ids.New("usr"), ids.New("prj"), ids.New("rep")
	for _, q := range []string{
		`INSERT INTO users (id, email, created_at, updated_at) VALUES ('` + owner + `', '', now(), now())`,
		`INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('` + project + `', '` + owner + `', 'p', now(), now())`,
		`INSERT INTO repositories (id, project_id, name, url, created_at, updated_at) VALUES ('` + repo + `', '` + project + `', 'r', 'https://example.com/r.git', now(), now())`,
	} {
		_, err := db.ExecContext(context.Background(), q)
		require.NoError(t, err)
	}
	return owner, project, repo
}
