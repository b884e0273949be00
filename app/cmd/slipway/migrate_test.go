package main

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// slipway runs the command line in this process with env on top of a clean
// test environment, and returns its exit code, stdout and stderr.
func slipway(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("SLIPWAY_ENV", "test")
	t.Setenv("SLIPWAY_DATA_DIR", t.TempDir())
	t.Setenv("SLIPWAY_HTTP_ADDR", "127.0.0.1:0")
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMigrateUpStatusDown(t *testing.T) {
	env := map[string]string{"SLIPWAY_DATABASE_URL": pgtest.NewEmptyDB(t)}
	all, err := migrations.New()
	require.NoError(t, err)
	n := len(all.Sorted())

	code, out, errOut := slipway(t, env, "migrate", "status")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^\d{14}\s+create_users\s+pending$`, out)
	require.Contains(t, out, fmt.Sprintf("%d migrations: 0 applied, %d pending", n, n))

	code, out, errOut = slipway(t, env, "migrate", "up")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, regexp.MustCompile(`^applied \d{14}_create_users\napplied \d{14}_create_projects\n`), out)
	require.Equal(t, n, strings.Count(out, "applied "))

	code, out, _ = slipway(t, env, "migrate", "up")
	require.Equal(t, 0, code)
	require.Contains(t, out, "is up to date")

	code, out, _ = slipway(t, env, "migrate", "status")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^\d{14}\s+create_projects\s+applied \S+Z \(group 1\)$`, out)
	require.Contains(t, out, fmt.Sprintf("%d migrations: %d applied, 0 pending", n, n))

	code, out, errOut = slipway(t, env, "migrate", "down")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `rolled back \d{14}_create_projects\nrolled back \d{14}_create_users\n$`, out)
	require.Equal(t, n, strings.Count(out, "rolled back "))

	code, out, _ = slipway(t, env, "migrate", "down")
	require.Equal(t, 0, code)
	require.Contains(t, out, "has no migration to roll back")
}

func TestMigrateUsage(t *testing.T) {
	for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "up", "extra"}} {
		code, _, errOut := slipway(t, map[string]string{"SLIPWAY_DATABASE_URL": "postgres://127.0.0.1/x"}, args...)
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "migrate needs one of up, down, status")
	}
	code, _, errOut := slipway(t, map[string]string{"SLIPWAY_DATABASE_URL": ""}, "migrate", "up")
	require.Equal(t, 2, code)
	require.Equal(t, "slipway: setting SLIPWAY_DATABASE_URL: required by migrate\n", errOut)
}

// TestServeRefusesABehindSchema: without auto_migrate (production), serve
// does not start on a schema older than its migrations, and says what to do
// in one line.
func TestServeRefusesABehindSchema(t *testing.T) {
	code, _, errOut := slipway(t, map[string]string{
		"SLIPWAY_STORAGE_BACKEND": "postgres",
		"SLIPWAY_DATABASE_URL":    pgtest.NewEmptyDB(t),
		"SLIPWAY_AUTO_MIGRATE":    "false",
	}, "serve")
	require.Equal(t, 1, code)
	require.Regexp(t, `^slipway: database schema is behind: \d+ migrations pending \(\d{14}_create_users, \d{14}_create_projects(, \d{14}_\w+)*\); `+
		`run "slipway migrate up" or set SLIPWAY_AUTO_MIGRATE=true\n$`, errOut)
}

// TestServeAndMigrateWithPostgresDown: both stop with one line that names
// the database but never the password.
func TestServeAndMigrateWithPostgresDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	env := map[string]string{
		"SLIPWAY_STORAGE_BACKEND": "postgres",
		"SLIPWAY_DATABASE_URL":    "postgres://slipway:hunter2@" + addr + "/slipway?sslmode=disable",
	}
	for _, args := range [][]string{{"serve"}, {"migrate", "up"}, {"migrate", "status"}} {
		code, _, errOut := slipway(t, env, args...)
		require.Equal(t, 1, code, args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		require.Contains(t, errOut, addr+"/slipway")
		require.Contains(t, errOut, "connection refused")
		require.NotContains(t, errOut, "hunter2")
	}
}
