// Package pgtest gives each test its own PostgreSQL database, created fresh
// and dropped when the test ends, so database tests run in parallel and leave
// nothing behind. It connects to SLIPWAY_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; when that
// server is unreachable the test is skipped locally and fails under CI
// (platform/testenv).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// DefaultAdminURL is the server tests use unless SLIPWAY_TEST_POSTGRES_URL is set.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the maintenance database URL new databases are created from.
func AdminURL() string {
	if u := os.Getenv("SLIPWAY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDB creates an empty database with every migration applied and returns
// its URL; it is dropped when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	dsn := NewEmptyDB(t)
	Migrate(t, dsn)
	return dsn
}

// NewEmptyDB creates a database with no tables and returns its URL; it is
// dropped (WITH (FORCE), closing leftover sessions) when the test ends.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	admin := openAdmin(t)
	defer admin.Close()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	name := "slipway_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err, "create test database")
	t.Cleanup(func() {
		admin := openAdmin(t)
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err, "drop test database %s", name)
	})
	u, err := url.Parse(AdminURL())
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// Migrate applies every embedded migration to the database at dsn.
func Migrate(t testing.TB, dsn string) {
	t.Helper()
	ms, err := migrations.New()
	require.NoError(t, err)
	m, err := postgres.NewMigrator(dsn, ms)
	require.NoError(t, err)
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = m.Up(ctx)
	require.NoError(t, err, "migrate test database")
}

// Open opens dsn with a small pool and closes it when the test ends.
func Open(t testing.TB, dsn string) *bun.DB {
	t.Helper()
	db, err := postgres.Open(dsn, settings.Pool{MaxOpenConns: 20, MaxIdleConns: 20})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openAdmin connects to the maintenance database, or stops the test through
// testenv.Unavailable when the server cannot be reached.
func openAdmin(t testing.TB) *bun.DB {
	t.Helper()
	db, err := postgres.Open(AdminURL(), settings.Pool{MaxOpenConns: 2, MaxIdleConns: 1})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		if postgres.Unavailable(err) {
			testenv.Unavailable(t, "PostgreSQL at %s: %v", postgres.Describe(AdminURL()), err)
		}
		require.NoError(t, err, "connect to PostgreSQL at %s", postgres.Describe(AdminURL()))
	}
	return db
}
