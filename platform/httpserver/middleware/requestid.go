package middleware

import (
	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/apierror"
)

// RequestID keeps the client's X-Request-ID when it is a sane token of at
// most 128 characters, otherwise makes a new one; it is stored in the context
// locals and echoed on every response.
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Get(apierror.HeaderRequestID)
		if !saneID(id) {
			id = apierror.NewRequestID()
		}
		apierror.SetRequestID(c, id)
		return c.Next()
	}
}

func saneID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':'
		if !ok {
			return false
		}
	}
	return true
}
