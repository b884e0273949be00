// Package metrics serves Prometheus metrics on a listener of its own
// (SLIPWAY_METRICS_ADDR), never on the public port. Its fx module owns one
// registry (the client library's global default registry is never used) and
// that listener, bound in OnStart and closed in OnStop.
//
// Other packages are measured through small hooks, each optional, so every
// package works, and costs nothing, without metrics:
//
//   - HTTP requests: httpserver takes a Requests (route template, method,
//     status, latency);
//   - runs: the runs worker takes a Runs (claims with their wait in the
//     queue, final statuses with the time worked) and provides a QueueProbe
//     read at scrape time;
//   - containers: a containers.Observer (starts, failures, clean-ups);
//   - the records store: a storage.Observer (latency of every JSON store
//     View/Update or PostgreSQL query), and the database pool's statistics;
//   - the Go runtime and the process.
//
// With metrics off (no address) the hooks are nil and nothing is collected.
package metrics
