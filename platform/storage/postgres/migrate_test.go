package postgres_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun/migrate"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func newMigrator(t *testing.T, dsn string) *postgres.Migrator {
	t.Helper()
	ms, err := migrations.New()
	require.NoError(t, err)
	m, err := postgres.NewMigrator(dsn, ms)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

// TestConcurrentUpMigratesOnce starts several instances' migrations at once
// on an empty database: the advisory lock lines them up, one applies
// everything, the others find nothing to do, and none fails.
func TestConcurrentUpMigratesOnce(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	const instances = 4
	migrators := make([]*postgres.Migrator, instances)
	for i := range migrators {
		migrators[i] = newMigrator(t, dsn)
	}
	var wg sync.WaitGroup
	applied := make([]int, instances)
	errs := make([]error, instances)
	for i, m := range migrators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Up(context.Background())
			applied[i], errs[i] = len(got), err
		}()
	}
	wg.Wait()
	total := 0
	for i := range instances {
		require.NoError(t, errs[i])
		require.Contains(t, []int{0, len(all(t, migrators[0]))}, applied[i])
		total += applied[i]
	}
	require.Equal(t, len(all(t, migrators[0])), total, "every migration applied exactly once")
}

func all(t *testing.T, m *postgres.Migrator) []postgres.Migration {
	t.Helper()
	ms, unknown, err := m.Status(context.Background())
	require.NoError(t, err)
	require.Empty(t, unknown)
	return ms
}

// TestStatusChangesNothing: status on a database never migrated reports
// every migration pending and creates no table, not even bun's own.
func TestStatusChangesNothing(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	m := newMigrator(t, dsn)
	pending, err := m.Pending(context.Background())
	require.NoError(t, err)
	require.Equal(t, all(t, m), pending)
	require.NotEmpty(t, pending)
	var tables int
	require.NoError(t, pgtest.Open(t, dsn).QueryRowContext(context.Background(),
		"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))
	require.Zero(t, tables)
}

func TestMigratorReportsAnOutage(t *testing.T) {
	m := newMigrator(t, "postgres://postgres@"+closedPort(t)+"/slipway?sslmode=disable")
	_, err := m.Up(context.Background())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	_, _, err = m.Status(context.Background())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
}

// TestFailedMigrationStaysPending: a transactional migration that fails
// leaves nothing behind and stays pending; the ones before it stay applied.
func TestFailedMigrationStaysPending(t *testing.T) {
	fsys := fstest.MapFS{
		"20250101000000_good.tx.up.sql":   {Data: []byte("CREATE TABLE good (x int);")},
		"20250101000000_good.tx.down.sql": {Data: []byte("DROP TABLE good;")},
		"20250102000000_bad.tx.up.sql":    {Data: []byte("CREATE TABLE half (x int);\nSELECT no_such_function();")},
		"20250102000000_bad.tx.down.sql":  {Data: []byte("DROP TABLE half;")},
	}
	ms := migrate.NewMigrations()
	require.NoError(t, ms.Discover(fsys))
	dsn := pgtest.NewEmptyDB(t)
	m, err := postgres.NewMigrator(dsn, ms)
	require.NoError(t, err)
	defer m.Close()

	applied, err := m.Up(context.Background())
	require.ErrorContains(t, err, "20250102000000: up")
	require.Equal(t, "42883", postgres.SQLState(err))
	require.Len(t, applied, 1)
	require.Equal(t, "20250101000000", applied[0].Name)
	pending, err := m.Pending(context.Background())
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, "20250102000000", pending[0].Name)
	var half bool
	require.NoError(t, pgtest.Open(t, dsn).QueryRowContext(context.Background(), "SELECT to_regclass('half') IS NOT NULL").Scan(&half))
	require.False(t, half, "the failed migration's transaction rolled back")
}
