//go:build unix

package postgres

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"
)

// checkConn is run by database/sql before a pooled connection is reused. An
// idle PostgreSQL connection never has bytes to read: when the socket is
// readable, the server has closed it (EOF) or sent a final error (57P01
// "terminating connection due to administrator command" on a restart).
// Either way the connection is dead, and driver.ErrBadConn makes database/sql
// drop it and take another, so a restart costs no request that starts after
// the server is back. The peek neither blocks nor consumes anything.
func checkConn(_ context.Context, cn *pgdriver.Conn) error {
	nc := cn.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		// Peek under TLS: an idle session has no record in flight either,
		// and a server that goes away sends an alert or closes.
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil // not a socket: the query will tell
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return driver.ErrBadConn
	}
	var rerr error
	var buf [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // one attempt: never wait for readiness
	}); err != nil {
		return driver.ErrBadConn
	}
	if errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) {
		return nil // nothing pending: alive
	}
	// Anything else is unsolicited bytes (a final error), EOF, or a socket error.
	return driver.ErrBadConn
}
