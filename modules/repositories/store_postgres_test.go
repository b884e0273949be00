package repositories_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/modules/repositories"
	"github.com/slipwayhq/slipway/modules/repositories/storetest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/parenttest"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func newPostgresStore(t testing.TB, db *bun.DB) repositories.Store {
	s, err := repositories.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
	require.NoError(t, err)
	return s
}

func pgBackend(t *testing.T) storetest.Backend {
	db := pgtest.Open(t, pgtest.NewDB(t))
	projects := parenttest.Postgres(db, prefixes)
	return storetest.Backend{Store: newPostgresStore(t, db), NewProject: projects.New, DeleteProject: projects.Delete}
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, pgBackend)
}

// TestPostgresStoreOutage: with the database out of reach every method
// fails with derrors.ErrUnavailable (a 503 through the API), and the same
// store works again once it is back.
func TestPostgresStoreOutage(t *testing.T) {
	dsn := pgtest.NewDB(t)
	proxy := pgtest.NewProxy(t, dsn)
	db := pgtest.Open(t, proxy.URL(dsn))
	s := newPostgresStore(t, db)
	ctx := context.Background()
	pid := parenttest.InsertProject(t, db, prefixes)
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &repositories.Repository{ID: ids.New(repositories.IDPrefix), ProjectID: pid, Name: "r",
		URL: "https://h.example/a/b", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.Create(ctx, r))

	proxy.Down()
	pgtest.RequireOutage(t, map[string]func() error{
		"Create": func() error {
			q := *r
			q.ID = ids.New(repositories.IDPrefix)
			return s.Create(ctx, &q)
		},
		"Get": func() error { _, err := s.Get(ctx, r.ID); return err },
		"Update": func() error {
			_, err := s.Update(ctx, r.ID, func(*repositories.Repository) error { return nil })
			return err
		},
		"Delete": func() error { return s.Delete(ctx, ids.New(repositories.IDPrefix)) },
		"List":   func() error { _, err := s.List(ctx, pid, page.Request{}); return err },
	})
	proxy.Up()
	got, err := s.Get(ctx, r.ID)
	require.NoError(t, err, "the store recovers by itself")
	require.Equal(t, r, got)
}

// TestPostgresListUsesIndex checks with EXPLAIN that a page of a project's
// repositories, first or after a cursor, is an index scan in order: no
// sequential scan, no sort.
func TestPostgresListUsesIndex(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	ctx := context.Background()
	// 20 000 repositories of 50 projects, enough for the planner to prefer indexes.
	for _, q := range []string{
		`INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_' || lpad('1', 26, '0'), 'u@example.com', now(), now())`,
		`INSERT INTO projects (id, owner_id, name, created_at, updated_at)
		 SELECT 'prj_' || lpad(i::text, 26, '0'), 'usr_' || lpad('1', 26, '0'), 'p' || i, now(), now() FROM generate_series(1, 50) i`,
		`INSERT INTO repositories (id, project_id, name, url, created_at, updated_at)
		 SELECT 'rep_' || lpad(i::text, 26, '0'), 'prj_' || lpad((i % 50 + 1)::text, 26, '0'), 'r' || i, 'https://h.example/r' || i,
		        timestamptz '2025-01-01' + (i / 3) * interval '1 second', now()
		 FROM generate_series(1, 20000) i`,
		`ANALYZE users, projects, repositories`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	rec := pgtest.Record(db)
	s := newPostgresStore(t, db)
	project := "prj_" + fmt.Sprintf("%026d", 8)
	cursor := page.Cursor{CreatedAt: time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC), ID: "rep_" + fmt.Sprintf("%026d", 5400)}
	for name, after := range map[string]page.Cursor{"first page": {}, "after cursor": cursor} {
		t.Run(name, func(t *testing.T) {
			res, err := s.List(ctx, project, page.Request{Limit: 20, After: after})
			require.NoError(t, err)
			require.Len(t, res.Items, 20)
			query := rec.Last()
			require.Contains(t, query, "ORDER BY created_at, id")
			plan := pgtest.Explain(t, db, query)
			require.Equal(t, []string{"Limit", "Index Scan"}, plan.Nodes, "plan:\n%s", plan.Text)
			require.Equal(t, "repositories_project_id_created_at_id_idx", plan.Index, "plan:\n%s", plan.Text)
			if !after.IsZero() {
				require.Contains(t, plan.IndexCond, "ROW(created_at, id) >", "the cursor is an index condition, not a filter:\n%s", plan.Text)
			}
		})
	}
}
