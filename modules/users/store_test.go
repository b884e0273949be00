package users_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/users"
	"github.com/slipwayhq/slipway/modules/users/storetest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func TestJSONStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) users.Store {
		db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		s, err := users.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
		require.NoError(t, err)
		return s
	})
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) users.Store {
		db := pgtest.Open(t, pgtest.NewDB(t))
		s, err := users.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
		require.NoError(t, err)
		return s
	})
}

// TestPostgresQueriesUseIndexes checks with EXPLAIN, on enough rows for the
// planner to prefer them, that the user list pages along (created_at, id)
// and that lookups by email use the case-insensitive unique index.
func TestPostgresQueriesUseIndexes(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `INSERT INTO users (id, email, created_at, updated_at)
		SELECT 'usr_' || lpad(i::text, 26, '0'), 'user' || i || '@example.com',
		       timestamptz '2025-01-01' + (i / 3) * interval '1 second', now()
		FROM generate_series(1, 20000) i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "ANALYZE users")
	require.NoError(t, err)
	rec := pgtest.Record(db)
	s, err := users.NewStore(&storage.Records{Backend: settings.BackendPostgres, DB: db})
	require.NoError(t, err)
	cursor := page.Cursor{CreatedAt: time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC), ID: fmt.Sprintf("usr_%026d", 10800)}

	cases := []struct {
		name  string
		call  func() error
		index string
		cond  string
	}{
		{"list first page", func() error { _, err := s.List(ctx, page.Request{Limit: 20}); return err },
			"users_created_at_id_idx", ""},
		{"list after cursor", func() error { _, err := s.List(ctx, page.Request{Limit: 20, After: cursor}); return err },
			"users_created_at_id_idx", "ROW(created_at, id) >"},
		{"by email", func() error { _, err := s.GetByEmail(ctx, "User77@Example.com"); return err },
			"users_email_key", "lower(email) ="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.call())
			query := rec.Last()
			plan := pgtest.Explain(t, db, query)
			require.Equal(t, []string{"Limit", "Index Scan"}, plan.Nodes, "plan:\n%s", plan.Text)
			require.Equal(t, c.index, plan.Index, "plan:\n%s", plan.Text)
			require.Contains(t, plan.IndexCond, c.cond, "plan:\n%s", plan.Text)
			t.Logf("%s\n%s\n%s", c.name, query, plan.Text)
		})
	}
	// Get by id is a prepared statement (postgres.Lookup), which bun's
	// query hook does not see: explain its text with the key filled in.
	t.Run("by id", func(t *testing.T) {
		_, err := s.Get(ctx, fmt.Sprintf("usr_%026d", 77))
		require.NoError(t, err)
		plan := pgtest.Explain(t, db, fmt.Sprintf(`SELECT * FROM "users" WHERE "id" = 'usr_%026d'`, 77))
		require.Equal(t, []string{"Index Scan"}, plan.Nodes, "plan:\n%s", plan.Text)
		require.Equal(t, "users_pkey", plan.Index)
	})
}
