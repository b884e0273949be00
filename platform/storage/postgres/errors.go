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

// Translate maps an outage to derrors.Unavailable("postgres", err) and
// returns any other error unchanged. Stores call it on every driver error
// after mapping the constraint violations they know.
func Translate(err error) error {
	if Unavailable(err) {
		return derrors.Unavailable(Service, err)
	}
	return err
}
