package middleware

import (
	"fmt"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Recover turns a panic in any later handler into a 500 in the envelope; the
// stack goes to the log, never to the body.
func Recover(log *zap.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				id := RequestIDOf(c)
				log.Error("panic serving request",
					zap.String("request_id", id),
					zap.String("method", c.Method()),
					zap.String("path", c.Path()),
					zap.Any("panic", r),
					zap.ByteString("stack", debug.Stack()))
				err = derrors.New(derrors.CodeInternal, "internal error").WithCause(fmt.Errorf("panic: %v", r))
			}
		}()
		return c.Next()
	}
}
