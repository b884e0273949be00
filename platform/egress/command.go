package egress

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CommandName is the hidden sub-command of the slipway binary that runs the
// proxy inside its container.
const CommandName = "egress-proxy"

// Args are the command-line arguments (after CommandName) that make
// RunCommand serve policy on listen.
func (p Policy) Args(listen string) []string {
	p = p.withDefaults()
	args := []string{
		"--listen=" + listen,
		"--allow-private=" + strconv.FormatBool(p.AllowPrivate),
		"--max-open=" + strconv.Itoa(p.MaxOpen),
		"--max-connections=" + strconv.Itoa(p.MaxConnections),
		"--idle-timeout=" + p.IdleTimeout.String(),
		"--connect-timeout=" + p.ConnectTimeout.String(),
		"--max-bytes=" + strconv.FormatInt(p.MaxBytes, 10),
	}
	for _, r := range p.Allow.Strings() {
		args = append(args, "--allow="+r)
	}
	return args
}

// ParseArgs reads the arguments Args writes.
func ParseArgs(args []string, stderr io.Writer) (listen string, p Policy, err error) {
	fs := flag.NewFlagSet(CommandName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var allow []string
	fs.StringVar(&listen, "listen", ":"+strconv.Itoa(Port), "address to listen on")
	fs.Func("allow", "an allowlist entry, HOST:PORT (repeat the flag)", func(v string) error {
		allow = append(allow, v)
		return nil
	})
	fs.BoolVar(&p.AllowPrivate, "allow-private", false, "let allowed names reach loopback, private, link-local and CGNAT addresses")
	fs.IntVar(&p.MaxOpen, "max-open", DefaultMaxOpen, "client connections open at once")
	fs.IntVar(&p.MaxConnections, "max-connections", DefaultMaxConnections, "requests over the proxy's life")
	fs.DurationVar(&p.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "close a tunnel after this long without traffic")
	fs.DurationVar(&p.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "bound of a lookup and connection")
	fs.Int64Var(&p.MaxBytes, "max-bytes", DefaultMaxBytes, "bytes carried over all tunnels, both ways")
	if err := fs.Parse(args); err != nil {
		return "", Policy{}, err
	}
	if fs.NArg() > 0 {
		return "", Policy{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if p.Allow, err = ParseAllowlist(allow); err != nil {
		return "", Policy{}, err
	}
	return listen, p, nil
}

// shutdownGrace bounds how long the proxy takes to stop once signalled.
const shutdownGrace = 5 * time.Second

// RunCommand is `slipway egress-proxy`: it serves until SIGTERM or SIGINT,
// writing its decisions to stdout, and returns the exit status.
func RunCommand(args []string, stdout, stderr io.Writer) int {
	listen, policy, err := ParseArgs(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "slipway egress-proxy:", err)
		return 2
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(stderr, "slipway egress-proxy:", err)
		return 1
	}
	p := NewProxy(policy, nil, stdout)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	select {
	case <-sig:
	case err := <-served:
		fmt.Fprintln(stderr, "slipway egress-proxy:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		fmt.Fprintln(stderr, "slipway egress-proxy: stop:", err)
		return 1
	}
	return 0
}
