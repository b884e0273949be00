package httpserver

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
)

// ClientAddr returns the address of the client of c: the peer, or behind
// trusted proxies the right-most untrusted X-Forwarded-For entry. Rate limits
// key on it; it is the address the access log shows.
func ClientAddr(c *fiber.Ctx) netip.Addr { return middleware.ClientAddrOf(c) }
