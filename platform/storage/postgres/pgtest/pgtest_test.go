package pgtest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// TestNewDBIsPrivateAndDropped: each call makes its own migrated database,
// and the database is gone once its test ends.
func TestNewDBIsPrivateAndDropped(t *testing.T) {
	var names []string
	for range 2 {
		t.Run("db", func(t *testing.T) {
			dsn := pgtest.NewDB(t)
			db := pgtest.Open(t, dsn)
			var tables int
			require.NoError(t, db.QueryRowContext(context.Background(),
				"SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'projects')").Scan(&tables))
			require.Equal(t, 2, tables, "migrated")
			u, err := url.Parse(dsn)
			require.NoError(t, err)
			names = append(names, strings.TrimPrefix(u.Path, "/"))
		})
	}
	require.Len(t, names, 2)
	require.NotEqual(t, names[0], names[1])
	admin := pgtest.Open(t, pgtest.AdminURL())
	for _, name := range names {
		var n int
		require.NoError(t, admin.QueryRowContext(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = ?", name).Scan(&n))
		require.Zero(t, n, "%s is dropped when its test ends", name)
	}
}

// TestProxyDownAndUp: connections through a proxy are refused while it is
// down and work again once it is up.
func TestProxyDownAndUp(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	p := pgtest.NewProxy(t, dsn)
	db := pgtest.Open(t, p.URL(dsn))
	ctx := context.Background()
	require.NoError(t, db.PingContext(ctx))
	p.Down()
	require.Error(t, db.PingContext(ctx))
	p.Up()
	require.NoError(t, db.PingContext(ctx))
}
