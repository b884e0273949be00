// Package httpserver owns the Fiber app: its middleware chain (client address
// → request id → access log → recover → CORS; the body limit is Fiber's own),
// the /v1 group that domain modules fill through the Registrar value group,
// and the listener's lifecycle. It never imports a domain package.
package httpserver
