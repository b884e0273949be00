package middleware

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-ID"

// RequestIDKey is the fiber.Ctx local holding the request id.
const RequestIDKey = "request_id"

// RequestID keeps the client's X-Request-ID when it is a sane token of at
// most 128 characters, otherwise makes a new one; it is stored in the context
// locals and echoed on every response.
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Get(HeaderRequestID)
		if !saneID(id) {
			id = NewRequestID()
		}
		setRequestID(c, id)
		return c.Next()
	}
}

// RequestIDOf returns the request id of c, or "" before RequestID ran.
func RequestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(RequestIDKey).(string)
	return id
}

// EnsureRequestID returns the request id of c, giving it a new one when no
// middleware ran (fasthttp's own 413 and 431).
func EnsureRequestID(c *fiber.Ctx) string {
	id := RequestIDOf(c)
	if id == "" {
		id = NewRequestID()
		setRequestID(c, id)
	}
	return id
}

func setRequestID(c *fiber.Ctx, id string) {
	c.Locals(RequestIDKey, id)
	c.Set(HeaderRequestID, id)
}

// NewRequestID makes a fresh random request id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
