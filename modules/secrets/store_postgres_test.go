package secrets_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/modules/secrets/storetest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/parenttest"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func newPostgresStore(t testing.TB, db *bun.DB) secrets.Store {
	s, err := secrets.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
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
	sec := &secrets.Secret{ID: ids.New(secrets.IDPrefix), ProjectID: pid, Name: "KEY", KeyID: "0123456789abcdef",
		Ciphertext: make([]byte, 40), CreatedAt: now, UpdatedAt: now}
	admit := func(secrets.Usage) error { return nil }
	_, err := s.Put(ctx, sec, admit)
	require.NoError(t, err)

	proxy.Down()
	pgtest.RequireOutage(t, map[string]func() error{
		"Put":    func() error { _, err := s.Put(ctx, sec, admit); return err },
		"Get":    func() error { _, err := s.Get(ctx, pid, "KEY"); return err },
		"Delete": func() error { return s.Delete(ctx, pid, "OTHER") },
		"List":   func() error { _, err := s.List(ctx, pid, page.Request{}); return err },
		"All":    func() error { _, err := s.All(ctx, pid); return err },
	})
	proxy.Up()
	got, err := s.Get(ctx, pid, "KEY")
	require.NoError(t, err, "the store recovers by itself")
	require.Equal(t, sec, got)
}

// TestPostgresListUsesIndex checks with EXPLAIN that a page of a project's
// secrets is an index scan in order: no sequential scan, no sort.
func TestPostgresListUsesIndex(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_' || lpad('1', 26, '0'), 'u@example.com', now(), now())`,
		`INSERT INTO projects (id, owner_id, name, created_at, updated_at)
		 SELECT 'prj_' || lpad(i::text, 26, '0'), 'usr_' || lpad('1', 26, '0'), 'p' || i, now(), now() FROM generate_series(1, 200) i`,
		`INSERT INTO secrets (id, project_id, name, key_id, ciphertext, created_at, updated_at)
		 SELECT 'sec_' || lpad(i::text, 26, '0'), 'prj_' || lpad((i % 200 + 1)::text, 26, '0'), 'S' || i, '0123456789abcdef',
		        decode(repeat('00', 40), 'hex'), timestamptz '2025-01-01' + (i / 3) * interval '1 second', now()
		 FROM generate_series(1, 20000) i`,
		`ANALYZE users, projects, secrets`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	rec := pgtest.Record(db)
	s := newPostgresStore(t, db)
	res, err := s.List(ctx, "prj_"+fmtID(8), page.Request{Limit: 20})
	require.NoError(t, err)
	require.Len(t, res.Items, 20)
	query := rec.Last()
	require.Contains(t, query, "ORDER BY created_at, id")
	plan := pgtest.Explain(t, db, query)
	require.Equal(t, []string{"Limit", "Index Scan"}, plan.Nodes, "plan:\n%s", plan.Text)
	require.Equal(t, "secrets_project_id_created_at_id_idx", plan.Index, "plan:\n%s", plan.Text)
}

func fmtID(n int) string {
	s := "00000000000000000000000000"
	d := []byte(s)
	for i := len(d) - 1; n > 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d)
}
