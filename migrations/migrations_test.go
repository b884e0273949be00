package migrations_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func TestEveryMigrationHasUpAndDown(t *testing.T) {
	ms, err := migrations.New()
	require.NoError(t, err)
	sorted := ms.Sorted()
	require.NotEmpty(t, sorted)
	for _, m := range sorted {
		require.Len(t, m.Name, 14, "%s: names are UTC timestamps YYYYMMDDHHMMSS", m.Name)
		_, err := time.Parse("20060102150405", m.Name)
		require.NoError(t, err, m.Name)
		require.NotNil(t, m.Up, "%s_%s has no .up.sql", m.Name, m.Comment)
		require.NotNil(t, m.Down, "%s_%s has no .down.sql", m.Name, m.Comment)
	}
}

// TestUpDownUp applies every migration, rolls them all back, and applies
// them again: down must undo up completely, and up must work after down.
func TestUpDownUp(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	db := pgtest.Open(t, dsn)
	ms, err := migrations.New()
	require.NoError(t, err)
	m, err := postgres.NewMigrator(dsn, ms)
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	empty := schema(t, db)

	applied, err := m.Up(ctx)
	require.NoError(t, err)
	require.Len(t, applied, len(ms.Sorted()))
	migrated := schema(t, db)
	text := strings.Join(migrated, "\n")
	for _, want := range []string{
		"table users", "table projects", "column users.id text C NO",
		"index users_email_key CREATE UNIQUE INDEX users_email_key ON public.users USING btree (lower(email)) WHERE (email <> ''::text)",
		"index projects_owner_id_created_at_id_idx", "index projects_created_at_id_idx", "index users_created_at_id_idx",
		"FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE CASCADE",
	} {
		require.Contains(t, text, want)
	}
	pending, err := m.Pending(ctx)
	require.NoError(t, err)
	require.Empty(t, pending)

	again, err := m.Up(ctx)
	require.NoError(t, err)
	require.Empty(t, again, "a second up has nothing to do")

	rolledBack, err := m.Down(ctx)
	require.NoError(t, err)
	require.Len(t, rolledBack, len(applied))
	require.Equal(t, applied[len(applied)-1].Name, rolledBack[0].Name, "newest first")
	require.Equal(t, withoutBookkeeping(empty), withoutBookkeeping(schema(t, db)), "down undoes up")
	pending, err = m.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pending, len(applied))

	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, migrated, schema(t, db), "up after down rebuilds the same schema")
}

// TestSchemaConstraints: the schema refuses what the domain never writes,
// as a last line of defence.
func TestSchemaConstraints(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	ctx := context.Background()
	exec := func(q string, args ...any) error { _, err := db.ExecContext(ctx, q, args...); return err }
	require.NoError(t, exec("INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_a', 'a@example.com', now(), now())"))
	for name, c := range map[string]struct {
		query string
		code  string
	}{
		"email taken in other case": {"INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_b', 'A@EXAMPLE.COM', now(), now())", "23505"},
		"email too long":            {"INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_c', repeat('e', 255), now(), now())", "23514"},
		"user without created_at":   {"INSERT INTO users (id, email, updated_at) VALUES ('usr_d', 'd@example.com', now())", "23502"},
		"empty user id":             {"INSERT INTO users (id, email, created_at, updated_at) VALUES ('', 'e@example.com', now(), now())", "23514"},
		"project of no user":        {"INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('prj_a', 'usr_x', 'n', now(), now())", "23503"},
		"empty project name":        {"INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('prj_b', 'usr_a', '', now(), now())", "23514"},
		"project name too long":     {"INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('prj_c', 'usr_a', repeat('é', 101), now(), now())", "23514"},
		"description too long":      {"INSERT INTO projects (id, owner_id, name, description, created_at, updated_at) VALUES ('prj_d', 'usr_a', 'n', repeat('d', 2001), now(), now())", "23514"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.code, postgres.SQLState(exec(c.query)))
		})
	}
	require.NoError(t, exec("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('prj_e', 'usr_a', repeat('é', 100), now(), now())"),
		"lengths count characters, not bytes")
}

// schema describes the public schema: tables with their columns, indexes
// with their definitions, constraints.
func schema(t *testing.T, db *bun.DB) []string {
	t.Helper()
	var out []string
	rows, err := db.QueryContext(context.Background(), `
		SELECT 'table ' || table_name FROM information_schema.tables WHERE table_schema = 'public'
		UNION ALL
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(collation_name, '') || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		  FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		  WHERE connamespace = 'public'::regnamespace
		ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// withoutBookkeeping drops bun's own tables, which down leaves in place.
func withoutBookkeeping(schema []string) []string {
	var out []string
	for _, s := range schema {
		if !strings.Contains(s, "bun_migration") {
			out = append(out, s)
		}
	}
	return out
}
