package middleware_test

import (
	"io"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slipwayhq/slipway/platform/clientip"
	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
	"github.com/slipwayhq/slipway/platform/logging"
)

// BenchmarkChain is the cost the middleware every request passes through
// adds to a handler, with the production JSON access line (to a discarding
// writer): client address, request id, access log, recover, CORS.
func BenchmarkChain(b *testing.B) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(logging.Redact(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel)))
	trusted, err := clientip.ParseTrusted(nil)
	if err != nil {
		b.Fatal(err)
	}
	app := fiber.New(fiber.Config{Immutable: true})
	app.Use(middleware.ClientAddr(trusted), middleware.RequestID(), middleware.AccessLog(log),
		middleware.Recover(log), middleware.CORS([]string{"http://localhost:5173"}))
	app.Get("/v1/projects/:project_id", func(c *fiber.Ctx) error {
		c.Locals(middleware.UserIDKey, "usr_01m8mpjwb1m26pr29fee5q1m18")
		return c.SendString(`{"id":"` + c.Params("project_id") + `"}`)
	})
	h := app.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/v1/projects/prj_01m8mpjwefdnpy0bs4ve7c9t9f")
		ctx.Request.Header.SetMethod(fiber.MethodGet)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}
