package apptest

import (
	"testing"

	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// Postgres runs the app on PostgreSQL: a fresh, empty database of the test's
// own, which the app migrates at start (test.yaml sets auto_migrate) and
// which is dropped when the test ends. Without a reachable PostgreSQL the
// test is skipped locally and fails under CI.
//
//	a := apptest.Start(t, apptest.Postgres(t))
func Postgres(t testing.TB) Option {
	t.Helper()
	return PostgresAt(pgtest.NewEmptyDB(t))
}

// PostgresAt runs the app on PostgreSQL at dsn, e.g. through a pgtest.Proxy
// that a test takes down to watch the app answer an outage.
func PostgresAt(dsn string) Option {
	return func(s *settings.Settings) {
		s.Storage.Backend = settings.BackendPostgres
		s.Storage.DatabaseURL = dsn
	}
}
