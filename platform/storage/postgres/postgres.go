// Package postgres opens Slipway's PostgreSQL records backend with bun and
// pgdriver, runs the embedded migrations under an advisory lock, and
// translates driver errors into the categories of platform/derrors, so a
// database that is down reads as a retryable outage (503), never a bug (500).
//
// Opening does no I/O (database/sql connects lazily); callers ping in their
// start hook. Nothing here logs or returns the connection URL, which can hold
// a password: Describe gives the safe form "host:port/dbname".
package postgres

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/slipwayhq/slipway/platform/settings"
)

// Open builds a *bun.DB for the postgres:// URL dsn with the pool limits of
// pool. It does no I/O. A URL pgdriver cannot parse is an error that never
// repeats the URL.
func Open(dsn string, pool settings.Pool) (*bun.DB, error) {
	connector, err := NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(pool.MaxOpenConns)
	sqldb.SetMaxIdleConns(pool.MaxIdleConns)
	sqldb.SetConnMaxLifetime(pool.ConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(pool.ConnMaxIdleTime)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// NewConnector parses dsn into a pgdriver connector that checks, before it
// hands a pooled connection out again, that the server has not closed it
// meanwhile (a restart, a failover, an idle timeout), so stale connections
// are replaced instead of failing a request.
func NewConnector(dsn string) (*pgdriver.Connector, error) {
	// pgdriver.WithDSN panics on a bad URL and its parse errors quote the
	// URL; the driver's OpenConnector returns the same errors, redacted here.
	c, err := pgdriver.NewDriver().OpenConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database URL %s: %s", Describe(dsn), redact(err.Error(), dsn))
	}
	pc := c.(*pgdriver.Connector)
	pgdriver.WithResetSessionFunc(checkConn)(pc.Config())
	// Tracing spans are off: no tracer is configured, and each span costs.
	pgdriver.WithTracing(false)(pc.Config())
	return pc, nil
}

// Describe returns the part of a database URL that is safe to log:
// "host:port/dbname", without user, password or parameters.
func Describe(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(unparsable database URL)"
	}
	return u.Host + u.Path
}

// redact removes dsn and its password from msg.
func redact(msg, dsn string) string {
	msg = strings.ReplaceAll(msg, dsn, "***")
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}
