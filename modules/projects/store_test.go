package projects_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/modules/projects"
	"github.com/slipwayhq/slipway/modules/projects/storetest"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func newJSONStore(t testing.TB) projects.Store {
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	s, err := projects.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	return s
}

func newPostgresStore(t testing.TB, db *bun.DB) projects.Store {
	s, err := projects.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
	require.NoError(t, err)
	return s
}

// insertUser adds a users row for projects to belong to, without the users
// module (domains do not import each other).
func insertUser(t testing.TB, db *bun.DB) string {
	id := ids.New("usr")
	_, err := db.ExecContext(context.Background(),
		"INSERT INTO users (id, email, created_at, updated_at) VALUES (?, ?, now(), now())", id, id+"@example.com")
	require.NoError(t, err)
	return id
}

func TestJSONStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		return storetest.Backend{Store: newJSONStore(t), NewOwner: func(*testing.T) string { return ids.New("usr") }}
	})
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db := pgtest.Open(t, pgtest.NewDB(t))
		return storetest.Backend{Store: newPostgresStore(t, db), NewOwner: func(t *testing.T) string { return insertUser(t, db) }}
	})
}

// TestPostgresDeletingUserCascadesProjects: the schema deletes a user's
// projects with the user (ON DELETE CASCADE), in the same statement.
func TestPostgresDeletingUserCascadesProjects(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	s := newPostgresStore(t, db)
	ctx := context.Background()
	gone, kept := insertUser(t, db), insertUser(t, db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var goneIDs []string
	for i := range 3 {
		p := &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: gone, Name: fmt.Sprint("p", i), CreatedAt: now, UpdatedAt: now}
		require.NoError(t, s.Create(ctx, p))
		goneIDs = append(goneIDs, p.ID)
	}
	other := &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: kept, Name: "kept", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.Create(ctx, other))

	_, err := db.ExecContext(ctx, "DELETE FROM users WHERE id = ?", gone)
	require.NoError(t, err)
	for _, id := range goneIDs {
		_, err := s.Get(ctx, id)
		require.ErrorIs(t, err, derrors.ErrNotFound)
	}
	res, err := s.List(ctx, "", page.Request{})
	require.NoError(t, err)
	require.Equal(t, []projects.Project{*other}, res.Items)
}

// TestPostgresUnknownOwnerIsConflict: a project whose owner does not exist
// (deleted meanwhile) is refused by the foreign key as a conflict, not a 500.
func TestPostgresUnknownOwnerIsConflict(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	s := newPostgresStore(t, db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: ids.New("usr"), Name: "orphan", CreatedAt: now, UpdatedAt: now}
	err := s.Create(context.Background(), p)
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "projects.owner_id", ce.What)
	require.Contains(t, err.Error(), "owner does not exist")
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
	owner := insertUser(t, db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: owner, Name: "p", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.Create(ctx, p))

	for _, mode := range []struct {
		name string
		cut  func()
	}{
		{"refused", proxy.Down},
		{"dropped", proxy.Cut},
	} {
		t.Run(mode.name, func(t *testing.T) {
			mode.cut()
			if mode.name == "dropped" {
				// Connections die under the pool while new ones still work.
				// A stale connection is normally replaced before use (see
				// platform/storage/postgres); one whose close is still in
				// flight fails the query as an outage, never otherwise, and
				// the next query works.
				_, err := s.Get(ctx, p.ID)
				if err != nil {
					require.ErrorIs(t, err, derrors.ErrUnavailable)
				}
				got, err := s.Get(ctx, p.ID)
				require.NoError(t, err)
				require.Equal(t, p, got)
				return
			}
			calls := map[string]func() error{
				"Create": func() error {
					q := *p
					q.ID = ids.New(projects.IDPrefix)
					return s.Create(ctx, &q)
				},
				"Get": func() error { _, err := s.Get(ctx, p.ID); return err },
				"Update": func() error {
					_, err := s.Update(ctx, p.ID, func(*projects.Project) error { return nil })
					return err
				},
				"Delete": func() error { return s.Delete(ctx, ids.New(projects.IDPrefix)) },
				"List":   func() error { _, err := s.List(ctx, owner, page.Request{}); return err },
			}
			pgtest.RequireOutage(t, calls)
			proxy.Up()
			got, err := s.Get(ctx, p.ID)
			require.NoError(t, err, "the store recovers by itself")
			require.Equal(t, p, got)
		})
	}
}

// TestPostgresListQueriesUseIndexes captures the SQL the store runs for each
// kind of list and checks with EXPLAIN that an index answers it in order: no
// sequential scan, no sort.
func TestPostgresListQueriesUseIndexes(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	ctx := context.Background()
	// 20 000 projects of 50 owners, enough for the planner to prefer indexes.
	_, err := db.ExecContext(ctx, `INSERT INTO users (id, email, created_at, updated_at)
		SELECT 'usr_' || lpad(i::text, 26, '0'), 'u' || i || '@example.com', now(), now() FROM generate_series(1, 50) i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO projects (id, owner_id, name, created_at, updated_at)
		SELECT 'prj_' || lpad(i::text, 26, '0'), 'usr_' || lpad((i % 50 + 1)::text, 26, '0'), 'p' || i,
		       timestamptz '2025-01-01' + (i / 3) * interval '1 second', now()
		FROM generate_series(1, 20000) i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "ANALYZE users, projects")
	require.NoError(t, err)

	rec := pgtest.Record(db)
	s := newPostgresStore(t, db)
	owner := "usr_" + fmt.Sprintf("%026d", 7)
	cursor := page.Cursor{CreatedAt: time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC), ID: "prj_" + fmt.Sprintf("%026d", 5400)}
	cases := []struct {
		name, owner string
		after       page.Cursor
		index       string
	}{
		{"owner first page", owner, page.Cursor{}, "projects_owner_id_created_at_id_idx"},
		{"owner after cursor", owner, cursor, "projects_owner_id_created_at_id_idx"},
		{"all first page", "", page.Cursor{}, "projects_created_at_id_idx"},
		{"all after cursor", "", cursor, "projects_created_at_id_idx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.List(ctx, c.owner, page.Request{Limit: 20, After: c.after})
			require.NoError(t, err)
			require.Len(t, res.Items, 20)
			query := rec.Last()
			require.Contains(t, query, "ORDER BY created_at, id")
			plan := pgtest.Explain(t, db, query)
			require.Equal(t, []string{"Limit", "Index Scan"}, plan.Nodes, "plan:\n%s", plan.Text)
			require.Equal(t, c.index, plan.Index, "plan:\n%s", plan.Text)
			if !c.after.IsZero() {
				require.Contains(t, plan.IndexCond, "ROW(created_at, id) >", "the cursor is an index condition, not a filter:\n%s", plan.Text)
			}
			t.Logf("%s\n%s\n%s", c.name, query, plan.Text)
		})
	}
}

// BenchmarkStoreGet measures one Get by primary key on each backend.
func BenchmarkStoreGet(b *testing.B) {
	backends := map[string]func(b *testing.B) (projects.Store, string){
		"json": func(b *testing.B) (projects.Store, string) { return newJSONStore(b), ids.New("usr") },
		"postgres": func(b *testing.B) (projects.Store, string) {
			db := pgtest.Open(b, pgtest.NewDB(b))
			return newPostgresStore(b, db), insertUser(b, db)
		},
	}
	for _, name := range []string{"json", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s, owner := backends[name](b)
			now := time.Now().UTC().Truncate(time.Microsecond)
			p := &projects.Project{ID: ids.New(projects.IDPrefix), OwnerID: owner, Name: "bench", CreatedAt: now, UpdatedAt: now}
			require.NoError(b, s.Create(context.Background(), p))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, p.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
