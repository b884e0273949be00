package middleware

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CORS allows the listed browser origins, with credentials. A request from
// any other origin gets no CORS headers at all (the browser then blocks it);
// the wildcard is refused by settings validation, so "*" never meets
// credentials.
func CORS(origins []string) fiber.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	const (
		methods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
		headers = "Authorization, Content-Type, Idempotency-Key, X-Request-ID, Last-Event-ID"
		expose  = "X-Request-ID, Retry-After, Location, WWW-Authenticate"
	)
	return func(c *fiber.Ctx) error {
		origin := c.Get(fiber.HeaderOrigin)
		if origin == "" {
			return c.Next()
		}
		c.Vary(fiber.HeaderOrigin)
		if !allowed[origin] {
			return c.Next()
		}
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		if c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != "" {
			c.Set(fiber.HeaderAccessControlAllowMethods, methods)
			c.Set(fiber.HeaderAccessControlAllowHeaders, headers)
			c.Set(fiber.HeaderAccessControlMaxAge, "600")
			return c.SendStatus(fiber.StatusNoContent)
		}
		c.Set(fiber.HeaderAccessControlExposeHeaders, expose)
		return c.Next()
	}
}
