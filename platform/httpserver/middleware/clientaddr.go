package middleware

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/clientip"
)

// ClientAddrKey is the fiber.Ctx local holding the client's address.
const ClientAddrKey = "client_addr"

// ClientAddr resolves the client's address once per request, from the
// connection's peer and, when that peer is a trusted proxy, X-Forwarded-For
// read from the right (see clientip.Trusted.Resolve), and stores it for the
// rate limits and the access log alike. Fiber's c.IP() is never used for
// this: with a proxy header it returns the left-most entry, which the
// client writes.
func ClientAddr(trusted clientip.Trusted) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var xff []string
		for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
			xff = append(xff, string(v))
		}
		c.Locals(ClientAddrKey, trusted.Resolve(peerAddr(c), xff))
		return c.Next()
	}
}

// ClientAddrOf returns the address ClientAddr stored; before it ran (the
// server's own 413 and 431 answers) it is the connection's peer, never a
// header's word.
func ClientAddrOf(c *fiber.Ctx) netip.Addr {
	if a, ok := c.Locals(ClientAddrKey).(netip.Addr); ok {
		return a
	}
	return peerAddr(c)
}

// peerAddr is the address of the connection's other end.
func peerAddr(c *fiber.Ctx) netip.Addr {
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}
