package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Service is the name outages are reported under (derrors.UnavailableError).
const Service = "postgres"

// SQLSTATE codes the stores act on.
const (
	CodeUniqueViolation     = "23505"
	CodeForeignKeyViolation = "23503"
)

// SQLState returns the SQLSTATE of a server error in err's chain, or "".
func SQLState(err error) string {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return pgErr.Field('C')
	}
	return ""
}

// Constraint returns the constraint a server error names (unique index,
// foreign key, check), or "".
func Constraint(err error) string {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return pgErr.Field('n')
	}
	return ""
}

// Unavailable reports whether err means the database could not be reached or
// dropped the connection, as opposed to refusing the statement: refused or
// reset connections, EOF mid-protocol, timeouts, driver.ErrBadConn, and the
// server errors of classes 08 (connection exception) and 53 (insufficient
// resources) and 57P01-57P03 (shutting down, crashed, starting up).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if code := SQLState(err); code != "" {
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"),
			code == "57P01", code == "57P02", code == "57P03":
			return true
		}
		return false
	}
	for _, target := range []error{
		driver.ErrBadConn, sql.ErrConnDone, io.EOF, io.ErrUnexpectedEOF,
		os.ErrDeadlineExceeded, context.DeadlineExceeded,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// Translate maps an outage to derrors.Unavailable("postgres", err), a
// foreign key violation to derrors.MissingParent, and returns any other
// error unchanged. Stores call it on every driver error after mapping the
// constraint violations they know.
//
// Every foreign key of the schema cascades on delete (ON DELETE CASCADE),
// so the only write a foreign key refuses is a child's insert or update
// naming a parent that does not exist.
func Translate(err error) error {
	switch {
	case Unavailable(err):
		return derrors.Unavailable(Service, err)
	case SQLState(err) == CodeForeignKeyViolation:
		return derrors.MissingParent(foreignKeyField(err), err)
	}
	return err
}

// foreignKeyField names the referencing field of a foreign key violation as
// "<table>.<column>", the way the JSON store names its index, from
// PostgreSQL's default constraint name "<table>_<column>_fkey"; another
// constraint name is returned as it is.
func foreignKeyField(err error) string {
	var pgErr pgdriver.Error
	if !errors.As(err, &pgErr) {
		return ""
	}
	table, name := pgErr.Field('t'), pgErr.Field('n')
	rest, prefixed := strings.CutPrefix(name, table+"_")
	column, suffixed := strings.CutSuffix(rest, "_fkey")
	if table == "" || !prefixed || !suffixed || column == "" {
		return name
	}
	return table + "." + column
}
