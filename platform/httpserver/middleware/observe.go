package middleware

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// RequestObserver is told about every answered request; the metrics module
// provides one when metrics are on. Route is the template the request
// matched ("/v1/projects/:project_id"), or "" when it matched none (an
// unknown path, or a known path with another method): never the raw path,
// so what it records stays bounded whatever clients send.
type RequestObserver interface {
	ObserveRequest(method, route string, status int, took time.Duration)
}

// Observe reports each request to o once it is answered. It runs outside
// AccessLog, which has already turned any error into the response the client
// gets, so the status is final.
func Observe(o RequestObserver) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		// The middleware's own route: Fiber registers middleware for every
		// method, so only a route other than this one is a match.
		chain := c.Route()
		err := c.Next()
		route := ""
		if r := c.Route(); r != chain {
			route = r.Path
		}
		o.ObserveRequest(c.Method(), route, c.Response().StatusCode(), time.Since(start))
		return err
	}
}
