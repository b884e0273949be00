package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

var pool = settings.Pool{MaxOpenConns: 10, MaxIdleConns: 10}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestOpenDoesNoIOAndPingReportsAnOutage(t *testing.T) {
	db, err := postgres.Open("postgres://slipway:hunter2@"+closedPort(t)+"/slipway?sslmode=disable", pool)
	require.NoError(t, err, "opening connects to nothing")
	defer db.Close()
	err = db.PingContext(context.Background())
	require.Error(t, err)
	require.True(t, postgres.Unavailable(err), "%v", err)
	require.ErrorIs(t, postgres.Translate(err), derrors.ErrUnavailable)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestOpenRejectsBadURLsWithoutRepeatingThem(t *testing.T) {
	for _, dsn := range []string{
		"mysql://root:hunter2@127.0.0.1/db",
		"postgres://u:hunter2@127.0.0.1:5432/db?sslmode=sometimes",
		"postgres://u:hunter2@127.0.0.1:5432/db?connect_timeout=soon",
	} {
		_, err := postgres.Open(dsn, pool)
		require.Error(t, err, dsn)
		require.NotContains(t, err.Error(), "hunter2")
	}
}

func TestDescribe(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://slipway:hunter2@db.internal:5432/slipway?sslmode=require": "db.internal:5432/slipway",
		"postgresql://127.0.0.1/app":                                          "127.0.0.1/app",
		"::not a url":                                                         "(unparsable database URL)",
	} {
		require.Equal(t, want, postgres.Describe(dsn))
	}
}

func TestUnavailableClassifiesSyntheticErrors(t *testing.T) {
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("syntax error"), false},
		{sql.ErrNoRows, false},
		{context.Canceled, false},
		{driver.ErrBadConn, true},
		{sql.ErrConnDone, true},
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{opErr, true},
		{fmt.Errorf("query: %w", syscall.ECONNRESET), true},
		{syscall.EPIPE, true},
		{os.ErrDeadlineExceeded, true},
		{context.DeadlineExceeded, true},
	}
	for _, c := range cases {
		require.Equal(t, c.want, postgres.Unavailable(c.err), "%v", c.err)
	}
}

// TestServerErrorsAreClassified raises real server errors: a statement the
// server refuses is not an outage, a session the server terminates (57P01,
// as on a restart) and a connection dropped mid-session (EOF) are.
func TestServerErrorsAreClassified(t *testing.T) {
	dsn := pgtest.NewDB(t)
	db := pgtest.Open(t, dsn)
	ctx := context.Background()

	_, err := db.ExecContext(ctx, "SELECT * FROM no_such_table")
	require.Equal(t, "42P01", postgres.SQLState(err))
	require.False(t, postgres.Unavailable(err))

	_, err = db.ExecContext(ctx, "INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_1', 'a@example.com', now(), now())")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_2', 'A@example.com', now(), now())")
	require.Equal(t, postgres.CodeUniqueViolation, postgres.SQLState(err))
	require.Equal(t, "users_email_key", postgres.Constraint(err))
	require.False(t, postgres.Unavailable(err))

	// A pinned connection is never checked before use: the query meets the
	// server's termination message.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var pid int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	_, err = db.ExecContext(ctx, "SELECT pg_terminate_backend(?)", pid)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		_ = db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ?", pid).Scan(&n)
		return n == 0
	}, 5*time.Second, 10*time.Millisecond)
	_, err = conn.ExecContext(ctx, "SELECT 1")
	require.Error(t, err)
	require.True(t, postgres.Unavailable(err), "terminated session: %v", err)
	if code := postgres.SQLState(err); code != "" {
		require.Equal(t, "57P01", code)
	}

	proxy := pgtest.NewProxy(t, dsn)
	viaProxy := pgtest.Open(t, proxy.URL(dsn))
	pinned, err := viaProxy.Conn(ctx)
	require.NoError(t, err)
	defer pinned.Close()
	_, err = pinned.ExecContext(ctx, "SELECT 1")
	require.NoError(t, err)
	proxy.Cut()
	_, err = pinned.ExecContext(ctx, "SELECT 1")
	require.Error(t, err)
	require.True(t, postgres.Unavailable(err), "dropped connection: %v", err)
}

// TestTerminatedConnectionsAreReplacedBeforeUse is what a server restart
// does to an idle pool: every session is terminated. Each of the pool's
// stale connections is found dead before a query uses it, so no query
// fails, with TLS or without.
func TestTerminatedConnectionsAreReplacedBeforeUse(t *testing.T) {
	for _, sslmode := range []string{"disable", "require"} {
		t.Run("sslmode="+sslmode, func(t *testing.T) {
			u, err := url.Parse(pgtest.NewDB(t))
			require.NoError(t, err)
			q := u.Query()
			q.Set("sslmode", sslmode)
			u.RawQuery = q.Encode()
			db := pgtest.Open(t, u.String())
			admin := pgtest.Open(t, pgtest.AdminURL())
			ctx := context.Background()
			if sslmode == "require" {
				var ssl bool
				require.NoError(t, db.QueryRowContext(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl))
				if !ssl {
					t.Skip("the test server has no TLS")
				}
			}
			pids := map[int]bool{}
			for range 5 {
				var pid int
				require.NoError(t, db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
				pids[pid] = true
			}
			require.Len(t, pids, 1, "a healthy idle connection passes the check and is reused")

			const n = 8
			var dbName string
			require.NoError(t, db.QueryRowContext(ctx, "SELECT current_database()").Scan(&dbName))
			warm(t, db, n)
			require.Equal(t, n, db.Stats().Idle)

			_, err = admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()", dbName)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				var left int
				_ = admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = ?", dbName).Scan(&left)
				return left == 0
			}, 5*time.Second, 10*time.Millisecond)

			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.ExecContext(ctx, "SELECT pg_sleep(0.05)")
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		})
	}
}

// warm opens n connections and returns them to the pool idle.
func warm(t *testing.T, db *bun.DB, n int) {
	t.Helper()
	var conns []bun.Conn
	for range n {
		c, err := db.Conn(context.Background())
		require.NoError(t, err)
		_, err = c.ExecContext(context.Background(), "SELECT 1")
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
}

// TestForeignKeyViolationIsMissingParent: a row naming a parent that does
// not exist is refused as derrors.MissingParent on "<table>.<column>", the
// name the JSON store gives the same refusal.
func TestForeignKeyViolationIsMissingParent(t *testing.T) {
	db := pgtest.Open(t, pgtest.NewDB(t))
	_, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('prj_1', 'usr_missing', 'p', now(), now())")
	require.Equal(t, postgres.CodeForeignKeyViolation, postgres.SQLState(err))
	err = postgres.Translate(err)
	require.ErrorIs(t, err, derrors.ErrMissingParent)
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "projects.owner_id", ce.What)
	require.False(t, postgres.Unavailable(err))
}
