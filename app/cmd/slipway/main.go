// Command slipway is the Slipway server and its operator tools:
//
//	slipway [serve]                 API and in-process worker (default)
//	slipway worker                  the run worker only, beside API instances on PostgreSQL
//	slipway users create --email E --password-stdin [--group G]...
//
// Settings come from the embedded configs and SLIPWAY_* variables; a bad one
// stops the start with one line naming it and exit status 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/app"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/settings"
)

// began is when the process reached main, for the startup time it logs.
var began = time.Now()

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the exit, so commands are testable.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == egress.CommandName {
		// The run's egress proxy, in its own container: no settings, no
		// modules, only its flags.
		return egress.RunCommand(args, stdout, stderr)
	}
	s, err := settings.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "slipway:", err)
		return 2
	}
	switch cmd {
	case "serve":
		return serve(app.Options(s), stderr)
	case "worker":
		s.Runs.Execute = true // a worker exists to execute runs
		return serve(app.Worker(s), stderr)
	case "users":
		return usersCommand(s, args, stdin, stdout, stderr)
	case "migrate":
		return migrateCommand(s, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "slipway: unknown command %q\n%s", cmd, usage)
	return 2
}

const usage = `usage:
  slipway [serve]                                   run the API and the in-process worker
  slipway worker                                    run only the run worker (records on PostgreSQL, shared with API instances)
  slipway users create --email E --password-stdin [--group operator|root]...
  slipway migrate up|down|status                    PostgreSQL schema (SLIPWAY_DATABASE_URL)
`

// serve runs opts until SIGINT or SIGTERM: the whole server, or the worker.
func serve(opts fx.Option, stderr io.Writer) int {
	if path := os.Getenv("SLIPWAY_CPUPROFILE"); path != "" {
		// A CPU profile of the whole run, for `go tool pprof`; read by the
		// bench and by anyone chasing a slow path.
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	var log *zap.Logger
	a := fx.New(opts, fx.Populate(&log))
	if err := a.Err(); err != nil {
		return fail(stderr, err)
	}
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return fail(stderr, err)
	}
	log.Info("started", zap.Duration("startup", time.Since(began)))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	code := 0
	select {
	case <-sig:
	case sd := <-a.Wait():
		code = sd.ExitCode
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		fmt.Fprintln(stderr, "slipway: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// fail prints the root cause of a start failure as one line: fx's own
// wrapping names constructors, which helps no operator.
func fail(stderr io.Writer, err error) int {
	root := dig.RootCause(err)
	if root == nil {
		root = err
	}
	var exit interface{ ExitCode() int }
	if errors.As(root, &exit) {
		fmt.Fprintln(stderr, "slipway:", root)
		return exit.ExitCode()
	}
	fmt.Fprintln(stderr, "slipway:", root)
	return 1
}
