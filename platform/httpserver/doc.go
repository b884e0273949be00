// Package httpserver owns the Fiber app: its middleware chain, the /v1 group
// that domain modules fill through the Registrar value group, and the
// listener's lifecycle. It never imports a domain package.
//
// A request passes, in this order (see New):
//
//  1. fasthttp's own limits: headers over the read buffer (431) and bodies over
//     BodyLimit (413) are refused before any middleware runs; the error
//     handler still answers them with the envelope and a fresh request id.
//     Methods Fiber does not know get a 405 envelope from guardMethods.
//  2. client address, then request id, then, when metrics are on, the request
//     observer (outside the access log, so it sees the final status), then
//     access log, then recover (inside the access log, so a panic is logged
//     as the 500 it becomes), then CORS.
//  3. the route: for operations that are not Public, the Guard's middleware
//     (bearer token, then group); the NUL check of the query parameters and
//     headers the operation declares; then the operation's handler.
//
// Every error, from any of these, goes to the one apierror.Handler.
package httpserver
