package storage_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

func pgSettings(t *testing.T, dsn string, autoMigrate bool) *settings.Settings {
	t.Helper()
	s, err := settings.Load(func(k string) string {
		return map[string]string{"SLIPWAY_ENV": settings.EnvTest, "SLIPWAY_DATA_DIR": t.TempDir()}[k]
	})
	require.NoError(t, err)
	s.Storage.Backend = settings.BackendPostgres
	s.Storage.DatabaseURL = dsn
	s.Storage.AutoMigrate = autoMigrate
	require.NoError(t, s.Validate())
	return s
}

// start builds the records backend and runs its start hooks.
func start(t *testing.T, s *settings.Settings) (*storage.Records, error) {
	t.Helper()
	lc := fxtest.NewLifecycle(t)
	r, err := storage.NewRecords(storage.RecordsParams{Lifecycle: lc, Settings: s, Log: zap.NewNop()})
	require.NoError(t, err, "building the backend does no I/O")
	err = lc.Start(context.Background())
	t.Cleanup(func() { _ = lc.Stop(context.Background()) })
	return r, err
}

func TestPostgresUnreachableAtStartIsOneClearLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, err = start(t, pgSettings(t, "postgres://slipway:hunter2@"+addr+"/slipway?sslmode=disable", true))
	require.Error(t, err)
	msg := err.Error()
	require.NotContains(t, msg, "\n")
	require.NotContains(t, msg, "hunter2", "the URL's password never shows")
	require.Contains(t, msg, "connect to postgres at "+addr+"/slipway (SLIPWAY_DATABASE_URL)")
	require.Contains(t, msg, "connection refused")
}

func TestPostgresSchemaBehindRefusesToStart(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	_, err := start(t, pgSettings(t, dsn, false))
	require.Error(t, err)
	require.Regexp(t, `^database schema is behind: \d+ migrations pending \(\d{14}_create_users, \d{14}_create_projects(, \d{14}_\w+)*\); `+
		`run "slipway migrate up" or set SLIPWAY_AUTO_MIGRATE=true$`, err.Error())

	r, err := start(t, pgSettings(t, dsn, true))
	require.NoError(t, err, "auto_migrate brings the schema up to date")
	require.NoError(t, r.Ping(context.Background()))
	var n int
	require.NoError(t, r.DB.QueryRowContext(context.Background(), "SELECT count(*) FROM users").Scan(&n))

	_, err = start(t, pgSettings(t, dsn, false))
	require.NoError(t, err, "an up-to-date schema starts without auto_migrate")
}

func TestPostgresPingReportsAnOutage(t *testing.T) {
	dsn := pgtest.NewDB(t)
	proxy := pgtest.NewProxy(t, dsn)
	r, err := start(t, pgSettings(t, proxy.URL(dsn), false))
	require.NoError(t, err)
	require.NoError(t, r.Ping(context.Background()))
	proxy.Down()
	err = r.Ping(context.Background())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.True(t, strings.HasPrefix(err.Error(), "ping postgres: "), err.Error())
	proxy.Up()
	require.NoError(t, r.Ping(context.Background()))
}

// calls is a storage.Observer that keeps "backend op" of each call.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) ObserveStoreCall(backend, op string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if took >= 0 {
		c.got = append(c.got, backend+" "+op)
	}
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func TestObserverTimesEveryBackendCall(t *testing.T) {
	ctx := context.Background()
	t.Run("json", func(t *testing.T) {
		s := pgSettings(t, "postgres://u@127.0.0.1:1/x", false)
		s.Storage.Backend = settings.BackendJSON
		obs := &calls{}
		lc := fxtest.NewLifecycle(t)
		r, err := storage.NewRecords(storage.RecordsParams{Lifecycle: lc, Settings: s, Log: zap.NewNop(), Observer: obs})
		require.NoError(t, err)
		lc.RequireStart()
		t.Cleanup(lc.RequireStop)
		require.NoError(t, r.Ping(ctx))
		require.NoError(t, r.JSON.Update(ctx, func(*jsonstore.Tx) error { return nil }))
		require.Equal(t, []string{"json view", "json update"}, obs.list())
	})
	t.Run("postgres", func(t *testing.T) {
		obs := &calls{}
		lc := fxtest.NewLifecycle(t)
		r, err := storage.NewRecords(storage.RecordsParams{Lifecycle: lc, Settings: pgSettings(t, pgtest.NewDB(t), true), Log: zap.NewNop(), Observer: obs})
		require.NoError(t, err)
		require.NoError(t, lc.Start(ctx))
		t.Cleanup(func() { _ = lc.Stop(ctx) })
		before := len(obs.list()) // the start's own queries, if any went through bun
		var n int
		require.NoError(t, r.DB.NewSelect().TableExpr("users").ColumnExpr("count(*)").Scan(ctx, &n))
		_, err = r.DB.NewDelete().TableExpr("users").Where("id = ?", "usr_none").Exec(ctx)
		require.NoError(t, err)
		_, err = r.DB.ExecContext(ctx, "SELECT pg_advisory_unlock_all()")
		require.NoError(t, err)
		_, err = r.DB.ExecContext(ctx, "NOTIFY slipway_test")
		require.NoError(t, err)
		require.Equal(t, []string{"postgres select", "postgres delete", "postgres select", "postgres other"}, obs.list()[before:])
	})
}
