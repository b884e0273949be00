// Package middleware holds the Fiber middleware every request passes through,
// one concern per file: client address, request id, the request observer
// (metrics), access log, recover, CORS.
package middleware
