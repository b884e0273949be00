// Package middleware holds the Fiber middleware every request passes through,
// one concern per file: recover, request id, access log, CORS.
package middleware
