//go:build !unix

package postgres

import (
	"context"

	"github.com/uptrace/bun/driver/pgdriver"
)

// checkConn cannot peek at a socket on this platform; a dead connection is
// found by the query that uses it.
func checkConn(context.Context, *pgdriver.Conn) error { return nil }
