package egress_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dockernetwork "github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/egress/egresstest"
)

// dockerEnv is a real Docker engine with the busybox image, a static
// slipway binary for the proxy, and an instance whose containers and
// networks go away with the test.
type dockerEnv struct {
	rt       *containers.Runtime
	image    string
	bin      string
	instance string
}

func newDockerEnv(t *testing.T) dockerEnv {
	t.Helper()
	rt := containertest.Runtime(t, containers.Config{})
	e := dockerEnv{rt: rt, image: containertest.Image(t, rt), instance: containertest.Instance(t, rt)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, containertest.RemoveInstance(ctx, rt, e.instance))
		require.NoError(t, egresstest.RemoveNetworks(ctx, rt, e.instance))
	})
	e.bin = egresstest.ProxyBinary(t)
	return e
}

// gatewayOf returns the IPAM gateway of a network: the host's address on
// it, when the bridge has one.
func (e dockerEnv) gatewayOf(t *testing.T, network string) netip.Addr {
	t.Helper()
	n, err := e.rt.Client().NetworkInspect(context.Background(), network, dockernetwork.InspectOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, n.IPAM.Config, network)
	return netip.MustParseAddr(n.IPAM.Config[0].Gateway)
}

// docker0Addr is the host's address on Docker's default bridge.
func docker0Addr(t *testing.T) netip.Addr {
	t.Helper()
	ifc, err := net.InterfaceByName("docker0")
	require.NoError(t, err, "the default bridge docker0")
	addrs, err := ifc.Addrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr()
		}
	}
	t.Fatal("docker0 has no IPv4 address")
	return netip.Addr{}
}

// hostService listens on every interface of the host, as a careless
// service would, and records who connected.
type hostService struct {
	port uint16
	mu   sync.Mutex
	from []netip.Addr
}

func startHostService(t *testing.T) *hostService {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	s := &hostService{port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.from = append(s.from, netip.MustParseAddrPort(c.RemoteAddr().String()).Addr())
			s.mu.Unlock()
			go answer(c)
		}
	}()
	return s
}

// answer greets one caller and closes only after the caller is done: a
// socket closed with the caller's bytes ("ping") unread sends a reset, and
// a reset can overtake the greeting on its way back through the tunnel.
func answer(c net.Conn) {
	defer c.Close()
	fmt.Fprintf(c, "HOST-SERVICE\n")
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, c)
}

func (s *hostService) callers() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.Addr(nil), s.from...)
}

// agentScript probes the way out from inside the agent's container: each
// "via" asks the proxy for a tunnel and sends a line through it, each
// "direct" connects without the proxy, and wget tries plain HTTP through
// the proxy. Every probe prints a "== name" header and what came back.
const agentScript = `
P=${HTTPS_PROXY#http://}; PH=${P%:*}; PP=${P##*:}
via() { printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nping\n' "$2" "$2" | nc -w 5 "$PH" "$PP" >/tmp/o 2>&1; echo "== via $1 rc=$?"; tr -d '\r' </tmp/o; echo; }
direct() { nc -w 2 "$2" "$3" </dev/null >/tmp/o 2>&1; echo "== direct $1 rc=$?"; cat /tmp/o; echo; }
for probe in $VIA; do via "${probe%%=*}" "${probe#*=}"; done
for probe in $DIRECT; do name=${probe%%=*}; a=${probe#*=}; direct "$name" "${a%:*}" "${a##*:}"; done
wget -q -O - "http://$PLAIN/" >/tmp/o 2>&1; echo "== plain rc=$?"; cat /tmp/o; echo
echo "== end"
`

// sections splits the agent's output by its "== " headers.
func sections(out string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(out, "== ")[1:] {
		head, body, _ := strings.Cut(part, "\n")
		name, _, _ := strings.Cut(head, " rc=")
		m[name] = head + "\n" + body
	}
	return m
}

// runAgent runs the probe script on path's network with its environment
// and returns its output.
func (e dockerEnv) runAgent(t *testing.T, path *egress.Path, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := containers.Spec{Image: e.image, Cmd: []string{"/bin/sh", "-c", agentScript}, Workspace: containertest.Workspace(t),
		RunID: "run-agent", InstanceID: e.instance, NetworkMode: path.Network, Env: map[string]string{}}
	for k, v := range path.Env {
		spec.Env[k] = v
	}
	for k, v := range env {
		spec.Env[k] = v
	}
	id, err := e.rt.Start(ctx, spec)
	require.NoError(t, err)
	logs, err := e.rt.Logs(ctx, id)
	require.NoError(t, err)
	out, err := io.ReadAll(logs)
	require.NoError(t, err)
	logs.Close()
	_, err = e.rt.Wait(ctx, id)
	require.NoError(t, err)
	require.NoError(t, e.rt.Remove(ctx, id))
	return string(out)
}

// TestAgentReachesOnlyTheAllowlist runs the agent's side for real: a
// busybox container on a run's network, with a proxy container beside it.
// The proxies reach out through an internal network of the test's own, so
// that nothing leaves this machine whatever a proxy did; like the network
// Slipway makes, it reaches the host at its gateway address.
func TestAgentReachesOnlyTheAllowlist(t *testing.T) {
	e := newDockerEnv(t)
	ctx := context.Background()
	outside := "slipway-test-out-" + e.instance
	_, err := e.rt.CreateNetwork(ctx, containers.NetworkSpec{Name: outside, Internal: true, Isolated: true,
		InstanceID: e.instance, Role: "test-outside"})
	require.NoError(t, err)
	outsideGW := e.gatewayOf(t, outside)
	docker0 := docker0Addr(t)
	svc := startHostService(t)
	atGW := fmt.Sprintf("%s:%d", outsideGW, svc.port)
	atDocker0 := fmt.Sprintf("%s:%d", docker0, svc.port)
	allow := []string{atGW, atDocker0, "169.254.169.254:80", fmt.Sprintf("localhost:%d", svc.port)}

	for _, allowPrivate := range []bool{true, false} {
		t.Run(fmt.Sprintf("allow_private_hosts=%t", allowPrivate), func(t *testing.T) {
			g := egress.NewGateway(e.rt, egress.Config{
				Policy:         egress.Policy{Allow: allowlist(t, allow...), AllowPrivate: allowPrivate},
				OutsideNetwork: outside, ProxyBinary: e.bin,
			}, zaptest.NewLogger(t))
			runID := fmt.Sprintf("run-private-%t", allowPrivate)
			path, err := g.Open(ctx, runID, e.instance)
			require.NoError(t, err)
			t.Logf("proxy ready in %s", path.Took)
			runGW := e.gatewayOf(t, path.Network)
			before := len(svc.callers())

			out := e.runAgent(t, path, map[string]string{
				"VIA": strings.Join([]string{"gateway=" + atGW, "docker0=" + atDocker0, "metadata=169.254.169.254:80",
					"other=example.com:443", fmt.Sprintf("localhost=localhost:%d", svc.port)}, " "),
				"DIRECT": strings.Join([]string{"gateway=" + atGW, "docker0=" + atDocker0, "metadata=169.254.169.254:80",
					fmt.Sprintf("rungateway=%s:%d", runGW, svc.port)}, " "),
				"PLAIN": atGW,
			})
			t.Logf("agent:\n%s", out)
			s := sections(out)
			require.Contains(t, s, "end", "the script ran to its end")

			// Without the proxy nothing is reachable: not the host at any of
			// its addresses, not the metadata service.
			for _, d := range []string{"direct gateway", "direct docker0", "direct metadata", "direct rungateway"} {
				require.NotContains(t, s[d], "rc=0", d)
				require.NotContains(t, s[d], "HOST-SERVICE", d)
			}
			// Through it, what the policy says.
			require.Contains(t, s["via other"], "403 Forbidden")
			require.Contains(t, s["via other"], "not in the allowlist")
			require.Contains(t, s["via metadata"], "403 Forbidden")
			require.Contains(t, s["via metadata"], "a metadata address")
			require.Contains(t, s["plain"], "403")
			if allowPrivate {
				require.Contains(t, s["via gateway"], "200 Connection established")
				require.Contains(t, s["via gateway"], "HOST-SERVICE")
				require.Contains(t, s["via localhost"], "502", "localhost is the proxy's own loopback, where nothing listens")
			} else {
				require.Contains(t, s["via gateway"], "403 Forbidden")
				require.Contains(t, s["via gateway"], "a private address")
				require.Contains(t, s["via docker0"], "403 Forbidden")
				require.Contains(t, s["via docker0"], "a private address")
				require.Contains(t, s["via localhost"], "resolves to a loopback address (127.0.0.1)")
			}

			stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			require.NoError(t, path.Stop(stopCtx))
			var lines []string
			for d := range path.Decisions() {
				if l := d.LogLine(); l != "" {
					lines = append(lines, l)
				}
			}
			log := strings.Join(lines, "\n")
			t.Logf("run log:\n%s", log)
			require.Contains(t, log, "[slipway egress] refused example.com:443: not in the allowlist")
			require.Contains(t, log, "[slipway egress] refused 169.254.169.254:80: a metadata address")
			require.Contains(t, log, fmt.Sprintf("[slipway egress] refused %s: plain HTTP is not forwarded", atGW))
			callers := svc.callers()[before:]
			if allowPrivate {
				require.Regexp(t, fmt.Sprintf(`\[slipway egress\] allowed %s \(5 B out, 13 B in, \d+\.\ds\)`, atGW), log)
				require.Contains(t, log, fmt.Sprintf("[slipway egress] failed localhost:%d: could not connect: connection refused", svc.port))
				require.Len(t, callers, 1, "the host service saw the proxy's one connection and nothing else")
			} else {
				require.Contains(t, log, fmt.Sprintf("[slipway egress] refused %s: a private address", atGW))
				require.Contains(t, log, fmt.Sprintf("[slipway egress] refused %s: a private address", atDocker0))
				require.Contains(t, log, fmt.Sprintf("[slipway egress] refused localhost:%d: resolves to a loopback address (127.0.0.1)", svc.port))
				require.Empty(t, callers, "nothing reached the host service")
			}

			require.NoError(t, path.Close(stopCtx))
			nets, err := e.rt.Networks(ctx, containers.Filter{RunID: runID})
			require.NoError(t, err)
			require.Empty(t, nets, "the run's network is gone")
			left, err := e.rt.List(ctx, containers.Filter{RunID: runID})
			require.NoError(t, err)
			require.Empty(t, left, "the proxy is gone")
			require.NoError(t, g.Stop(stopCtx))
		})
	}
}

// TestGatewayCleansUp opens a path with the instance's own outside network
// and proves what is removed when: Close (the run's), Stop (the instance's)
// and, after a crash, Prune by another instance.
func TestGatewayCleansUp(t *testing.T) {
	e := newDockerEnv(t)
	ctx := context.Background()
	cfg := egress.Config{Policy: egress.Policy{Allow: allowlist(t, "api.openai.com:443")}, ProxyBinary: e.bin}
	roles := func() map[string]int {
		nets, err := e.rt.Networks(ctx, containers.Filter{InstanceID: e.instance})
		require.NoError(t, err)
		m := map[string]int{}
		for _, n := range nets {
			m[n.Role]++
		}
		return m
	}

	g := egress.NewGateway(e.rt, cfg, zaptest.NewLogger(t))
	a, err := g.Open(ctx, "run-a", e.instance)
	require.NoError(t, err)
	_, err = g.Open(ctx, "run-b", e.instance)
	require.NoError(t, err)
	require.Equal(t, map[string]int{egress.RoleRun: 2, egress.RoleOutside: 1}, roles(), "a network per run, one out per instance")
	require.NoError(t, a.Close(ctx))
	require.Equal(t, map[string]int{egress.RoleRun: 1, egress.RoleOutside: 1}, roles())
	left, err := e.rt.List(ctx, containers.Filter{InstanceID: e.instance})
	require.NoError(t, err)
	require.Len(t, left, 1, "run-b's proxy")
	require.NoError(t, g.Stop(ctx))
	require.Empty(t, roles(), "stop removes what the instance still had")
	left, err = e.rt.List(ctx, containers.Filter{InstanceID: e.instance})
	require.NoError(t, err)
	require.Empty(t, left)

	// A crash: the instance's paths stay until another instance sweeps.
	crashed := egress.NewGateway(e.rt, cfg, zaptest.NewLogger(t))
	_, err = crashed.Open(ctx, "run-c", e.instance)
	require.NoError(t, err)
	sweeper := egress.NewGateway(e.rt, cfg, zaptest.NewLogger(t))
	n, err := sweeper.Prune(ctx, func(id string) bool { return false })
	require.NoError(t, err)
	require.Zero(t, n, "a live instance's networks stay")
	require.NoError(t, containertest.RemoveInstance(ctx, e.rt, e.instance)) // the runs module's reap
	n, err = sweeper.Prune(ctx, func(id string) bool { return id == e.instance })
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Empty(t, roles())
}

// TestMeasureProxy (SLIPWAY_MEASURE=1, as go tool task measure runs it)
// reports a path's start time and what the proxy adds: the set-up of a
// tunnel, and a round trip inside one, against a direct connection from
// the host to the same service.
func TestMeasureProxy(t *testing.T) {
	if os.Getenv("SLIPWAY_MEASURE") == "" {
		t.Skip("set SLIPWAY_MEASURE=1 to measure")
	}
	e := newDockerEnv(t)
	ctx := context.Background()
	outside := "slipway-test-out-" + e.instance
	_, err := e.rt.CreateNetwork(ctx, containers.NetworkSpec{Name: outside, Internal: true, Isolated: true,
		InstanceID: e.instance, Role: "test-outside"})
	require.NoError(t, err)
	gw := e.gatewayOf(t, outside)
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() { // echoes lines
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	target := netip.AddrPortFrom(gw, uint16(ln.Addr().(*net.TCPAddr).Port)).String()
	g := egress.NewGateway(e.rt, egress.Config{Policy: egress.Policy{Allow: allowlist(t, target), AllowPrivate: true},
		OutsideNetwork: outside, ProxyBinary: e.bin}, zaptest.NewLogger(t))
	var starts []time.Duration
	var path *egress.Path
	for i := range 5 {
		p, err := g.Open(ctx, fmt.Sprintf("run-measure-%d", i), e.instance)
		require.NoError(t, err)
		starts = append(starts, p.Took)
		if path == nil {
			path = p
		} else {
			require.NoError(t, p.Close(ctx))
		}
	}
	list, err := e.rt.List(ctx, containers.Filter{RunID: "run-measure-0"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	proxyAddr, err := e.rt.Address(ctx, list[0].ID, outside) // the host reaches the proxy on the outside network
	require.NoError(t, err)
	proxy := fmt.Sprintf("%s:%d", proxyAddr, egress.Port)

	const n = 200
	rtt := func(c net.Conn, br *bufio.Reader) time.Duration {
		var total time.Duration
		for range n {
			began := time.Now()
			_, err := io.WriteString(c, "ping\n")
			require.NoError(t, err)
			_, err = br.ReadString('\n')
			require.NoError(t, err)
			total += time.Since(began)
		}
		return total / n
	}
	direct, err := net.Dial("tcp", target)
	require.NoError(t, err)
	defer direct.Close()
	directRTT := rtt(direct, bufio.NewReader(direct))
	var setup time.Duration
	for range 50 {
		began := time.Now()
		res, c, _ := connect(t, proxy, target, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		setup += time.Since(began)
		c.Close()
	}
	var dialDirect time.Duration
	for range 50 {
		began := time.Now()
		c, err := net.Dial("tcp", target)
		require.NoError(t, err)
		dialDirect += time.Since(began)
		c.Close()
	}
	_, c, br := connect(t, proxy, target, nil)
	tunnelRTT := rtt(c, br)
	t.Logf("path start (network, proxy container, listening): %v", starts)
	t.Logf("connection set-up: direct %v, CONNECT through the proxy %v (mean of 50)", dialDirect/50, setup/50)
	t.Logf("round trip of a line: direct %v, inside a tunnel %v (mean of %d)", directRTT, tunnelRTT, n)
	require.NoError(t, path.Close(ctx))
}

// gatedDocker is the real runtime whose HasImage waits until gate is
// closed (or its context ends), so a test can hold a Gateway's image work
// where it is.
type gatedDocker struct {
	*containers.Runtime
	gate     chan struct{}
	asked    chan struct{} // a value each time HasImage is called
	returned chan struct{} // a value each time HasImage returns
}

func newGatedDocker(rt *containers.Runtime) *gatedDocker {
	return &gatedDocker{Runtime: rt, gate: make(chan struct{}), asked: make(chan struct{}, 16), returned: make(chan struct{}, 16)}
}

func (d *gatedDocker) HasImage(ctx context.Context, ref string) (bool, error) {
	d.asked <- struct{}{}
	defer func() { d.returned <- struct{}{} }()
	select {
	case <-d.gate:
		return d.Runtime.HasImage(ctx, ref)
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// within fails the test unless done is closed, or has a value, within a
// minute; it bounds a wait that would otherwise hang, it is not a delay.
func within(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not happen within a minute", what)
	}
}

// inBackground runs f and closes the returned channel when it has
// returned, with its error in *err.
func inBackground(f func() error, err *error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		*err = f()
	}()
	return done
}

// TestGatewayStartDoesNotWaitForTheImage: hashing the proxy binary and
// asking Docker take longer than a start may (under 50 ms), so Start
// returns while the image is still being made; Stop ends that work and
// waits for it, and a run opened meanwhile gets the image once it is made.
func TestGatewayStartDoesNotWaitForTheImage(t *testing.T) {
	e := newDockerEnv(t)
	ctx := context.Background()
	cfg := egress.Config{Policy: egress.Policy{Allow: allowlist(t, "api.openai.com:443")}, ProxyBinary: e.bin}
	var err error

	held := newGatedDocker(e.rt)
	g := egress.NewGateway(held, cfg, zaptest.NewLogger(t))
	within(t, "Start, with Docker not answering", inBackground(func() error { return g.Start(ctx) }, &err))
	require.NoError(t, err)
	within(t, "the image work asking Docker", held.asked)
	within(t, "Stop, with the image work still waiting for Docker", inBackground(func() error { return g.Stop(ctx) }, &err))
	require.NoError(t, err)
	select {
	case <-held.returned:
	default:
		t.Fatal("Stop returned before the image work it began had ended")
	}

	released := newGatedDocker(e.rt)
	g = egress.NewGateway(released, cfg, zaptest.NewLogger(t))
	within(t, "Start", inBackground(func() error { return g.Start(ctx) }, &err))
	require.NoError(t, err)
	within(t, "the image work asking Docker", released.asked)
	var path *egress.Path
	opened := inBackground(func() (err error) { path, err = g.Open(ctx, "run-early", e.instance); return err }, &err)
	close(released.gate)
	within(t, "Open", opened)
	require.NoError(t, err)
	require.NoError(t, path.Close(ctx))
	require.NoError(t, g.Stop(ctx))
}

// TestGatewayStartRefusesADynamicBinary: the proxy's image holds nothing
// but the binary, so one that needs a dynamic loader fails the start at
// once, before any run finds out.
func TestGatewayStartRefusesADynamicBinary(t *testing.T) {
	g := egress.NewGateway(nil, egress.Config{ProxyBinary: "/bin/sh"}, zaptest.NewLogger(t))
	err := g.Start(context.Background())
	require.ErrorContains(t, err, "dynamically linked")
	require.NoError(t, g.Stop(context.Background()), "nothing was begun")
}
