// Command slipway-bench is the load test behind `go tool task bench`. It
// starts each target as its own process on loopback and loads them in turn,
// in interleaved rounds, so they share the same noisy machine:
//
//   - GET /healthz of Slipway (the floor of the stack: routing, request id,
//     access log);
//   - an authenticated GET /v1/projects/{id} of Slipway on the JSON store;
//   - the same on PostgreSQL, when one is reachable;
//   - a bare Fiber handler doing the same primary-key read with pgx (no auth,
//     no logging, no envelope): the reference the full stack is held to.
//
// It prints requests per second, p50 and p99 latency per target (medians over
// the rounds) and the ratios, plus Slipway's startup time and idle memory.
// With -metrics (the default) each Slipway read also runs on a twin with
// metrics on, scraped every second as Prometheus would, and the report gives
// the on/off ratios of the same run.
// Slipway runs as the real binary (-slipway, built by the task); the load
// comes from wrk when it is installed, else from a Go client.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "serve-bare" { // a child started by run
			os.Exit(serveBare())
		}
	}
	fs := flag.NewFlagSet("slipway-bench", flag.ExitOnError)
	cfg := config{}
	fs.DurationVar(&cfg.duration, "duration", defaultDuration, "load per target per round")
	fs.IntVar(&cfg.rounds, "rounds", 3, "interleaved rounds")
	fs.IntVar(&cfg.conns, "connections", 32, "concurrent connections")
	fs.StringVar(&cfg.pgURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "admin URL of a PostgreSQL to create a scratch database in (empty: skip)")
	fs.BoolVar(&cfg.builtin, "builtin-load", false, "use the Go load generator even when wrk is installed")
	fs.StringVar(&cfg.slipway, "slipway", "bin/slipway", "the slipway binary to measure")
	fs.BoolVar(&cfg.metrics, "metrics", true, "also load a twin of each Slipway target with metrics on (SLIPWAY_METRICS_ADDR), in the same rounds")
	_ = fs.Parse(os.Args[1:])
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "slipway-bench:", err)
		os.Exit(1)
	}
}
