package egress_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// decisions are the connection decisions among the proxy's output lines.
func decisions(t *testing.T, out *testenv.Output) []egress.Decision {
	t.Helper()
	var ds []egress.Decision
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var d egress.Decision
		require.NoError(t, json.Unmarshal([]byte(line), &d), line)
		if d.Event == egress.EventConnection {
			ds = append(ds, d)
		}
	}
	return ds
}

// resolver answers from a table and counts its lookups.
type resolver struct {
	table map[string][]netip.Addr
	calls atomic.Int64
}

func (r *resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	if a, ok := r.table[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// proxy runs a Proxy on loopback until the test ends.
type proxy struct {
	*egress.Proxy
	addr string
	out  *testenv.Output
	res  *resolver
	stop func()
}

func startProxy(t *testing.T, policy egress.Policy, names map[string][]netip.Addr) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{out: &testenv.Output{}, res: &resolver{table: names}, addr: ln.Addr().String()}
	p.Proxy = egress.NewProxy(policy, p.res, p.out)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, p.Shutdown(ctx))
			require.NoError(t, <-served)
		})
	}
	t.Cleanup(p.stop)
	return p
}

func allowlist(t *testing.T, entries ...string) *egress.Allowlist {
	t.Helper()
	a, err := egress.ParseAllowlist(entries)
	require.NoError(t, err)
	return a
}

// server is a TCP server on loopback that runs handle per connection and
// counts connections.
type server struct {
	addr     netip.AddrPort
	accepted atomic.Int64
}

func startServer(t *testing.T, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	s := &server{addr: netip.MustParseAddrPort(ln.Addr().String())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return s
}

func (s *server) port() uint16 { return s.addr.Port() }

// hello answers "hello" to a line and closes.
func hello(c net.Conn) {
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Fprintf(c, "hello %s", line)
}

// connect sends CONNECT target (and extra right behind it) and returns the
// answer and the connection, positioned after the answer's head.
func connect(t *testing.T, proxyAddr, target string, extra []byte) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n", target, target)
	_, err = c.Write(append([]byte(req), extra...))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	require.NoError(t, err)
	return res, c, br
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

func TestProxyTunnelsToAnAllowedNameThroughTheAddressItChecked(t *testing.T) {
	srv := startServer(t, hello)
	p := startProxy(t, egress.Policy{Allow: allowlist(t, fmt.Sprintf("model.test:%d", srv.port())), AllowPrivate: true},
		map[string][]netip.Addr{"model.test": {srv.addr.Addr()}})

	res, c, br := connect(t, p.addr, fmt.Sprintf("Model.Test:%d", srv.port()), nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	_, err := io.WriteString(c, "agent\n")
	require.NoError(t, err)
	got, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Equal(t, "hello agent\n", string(got))
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return strings.Contains(p.out.String(), `"outcome":"allowed"`) }, 5*time.Second, 10*time.Millisecond)

	p.stop()
	require.EqualValues(t, 1, p.res.calls.Load(), "the name is looked up once, and the lookup's address is dialled")
	ds := decisions(t, p.out)
	require.Len(t, ds, 1)
	d := ds[0]
	require.Equal(t, egress.Allowed, d.Outcome)
	require.Equal(t, "model.test", d.Host)
	require.Equal(t, srv.port(), d.Port)
	require.Equal(t, srv.addr.String(), d.Addr)
	require.EqualValues(t, len("agent\n"), d.Out)
	require.EqualValues(t, len("hello agent\n"), d.In)
	require.Regexp(t, `^\[slipway egress\] allowed model\.test:\d+ \(6 B out, 12 B in, \d+\.\ds\)$`, d.LogLine())
	require.NotContains(t, p.out.String(), "c2VjcmV0", "headers are never recorded")
}

func TestProxyRefuses(t *testing.T) {
	srv := startServer(t, hello)
	port := srv.port()
	loop := srv.addr.Addr()
	names := map[string][]netip.Addr{
		"inside.test":   {loop},
		"mixed.test":    {netip.MustParseAddr("93.184.215.14"), loop},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
	}
	allow := []string{
		fmt.Sprintf("inside.test:%d", port), fmt.Sprintf("mixed.test:%d", port), fmt.Sprintf("metadata.test:%d", port),
		fmt.Sprintf("mapped.test:%d", port), fmt.Sprintf("127.0.0.1:%d", port), "169.254.169.254:80",
		"[fd00:ec2::254]:80", "missing.test:443",
	}
	tests := []struct {
		name         string
		allowPrivate bool
		target       string
		status       int
		reason       string
	}{
		{"not listed", true, "example.com:443", 403, "not in the allowlist"},
		{"listed name on another port", true, fmt.Sprintf("inside.test:%d", port+1), 403, "not in the allowlist"},
		{"an address for a listed name", true, "93.184.215.14:443", 403, "not in the allowlist"},
		{"a name resolving to loopback", false, fmt.Sprintf("inside.test:%d", port), 403, "resolves to a loopback address (127.0.0.1)"},
		{"a name resolving to a mapped loopback", false, fmt.Sprintf("mapped.test:%d", port), 403, "resolves to a loopback address (127.0.0.1)"},
		{"a name with one private address among public ones", false, fmt.Sprintf("mixed.test:%d", port), 403, "resolves to a loopback address (127.0.0.1)"},
		{"a listed loopback address", false, fmt.Sprintf("127.0.0.1:%d", port), 403, "a loopback address"},
		{"the metadata address, private allowed", true, "169.254.169.254:80", 403, "a metadata address"},
		{"the metadata address, private refused", false, "169.254.169.254:80", 403, "a metadata address"},
		{"the IPv6 metadata address", true, "[fd00:ec2::254]:80", 403, "a metadata address"},
		{"a name resolving to metadata", true, fmt.Sprintf("metadata.test:%d", port), 403, "resolves to a metadata address (169.254.169.254)"},
		{"a target that is not host:port", true, "nonsense", 403, `the request target is not host:port`},
		{"a name that does not resolve", true, "missing.test:443", 502, "could not resolve the name: no such host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, egress.Policy{Allow: allowlist(t, allow...), AllowPrivate: tc.allowPrivate}, names)
			res, _, _ := connect(t, p.addr, tc.target, nil)
			require.Equal(t, tc.status, res.StatusCode)
			require.Contains(t, body(t, res), tc.reason)
			p.stop()
			ds := decisions(t, p.out)
			require.Len(t, ds, 1)
			require.Contains(t, ds[0].Reason, tc.reason)
			require.Contains(t, ds[0].LogLine(), tc.reason)
			if tc.status == 403 {
				require.Equal(t, egress.Refused, ds[0].Outcome)
			}
		})
	}
	require.Zero(t, srv.accepted.Load(), "no refused request reached the server")
}

func TestProxyRefusesPlainHTTPWithoutRecordingTheURL(t *testing.T) {
	srv := startServer(t, hello)
	p := startProxy(t, egress.Policy{Allow: allowlist(t, fmt.Sprintf("127.0.0.1:%d", srv.port())), AllowPrivate: true}, nil)
	proxyURL, err := http.NewRequest(http.MethodGet, "http://"+p.addr, nil)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL.URL)}}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/secret/path?token=hunter2", srv.port()), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer hunter3")
	res, err := client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body(t, res), "plain HTTP is not forwarded")
	p.stop()
	ds := decisions(t, p.out)
	require.Len(t, ds, 1)
	require.Equal(t, fmt.Sprintf("[slipway egress] refused 127.0.0.1:%d: plain HTTP is not forwarded; only https (CONNECT) is", srv.port()), ds[0].LogLine())
	for _, secret := range []string{"secret", "path", "hunter2", "hunter3", "token"} {
		require.NotContains(t, p.out.String(), secret)
	}
	require.Zero(t, srv.accepted.Load())
}

func TestProxyForwardsEarlyBytesAndHalfClose(t *testing.T) {
	// The server reads to the end, then answers: it sees everything the
	// client sent, including the bytes behind the CONNECT, and the client's
	// half-close.
	srv := startServer(t, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		fmt.Fprintf(c, "got %q", b)
	})
	target := fmt.Sprintf("127.0.0.1:%d", srv.port())
	p := startProxy(t, egress.Policy{Allow: allowlist(t, target), AllowPrivate: true}, nil)
	res, c, br := connect(t, p.addr, target, []byte("early "))
	require.Equal(t, http.StatusOK, res.StatusCode)
	_, err := io.WriteString(c, "late")
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	got, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Equal(t, `got "early late"`, string(got))
}

func TestProxyBounds(t *testing.T) {
	t.Run("connections over the run", func(t *testing.T) {
		p := startProxy(t, egress.Policy{Allow: allowlist(t), MaxConnections: 2}, nil)
		for range 5 {
			res, _, _ := connect(t, p.addr, "example.com:443", nil)
			require.Equal(t, http.StatusForbidden, res.StatusCode)
		}
		p.stop()
		ds := decisions(t, p.out)
		require.Len(t, ds, 3, "two within the limit and the first past it get a line")
		require.Equal(t, "not in the allowlist", ds[1].Reason)
		require.Contains(t, ds[2].Reason, "limit of 2 connections is reached")
		require.Contains(t, p.out.String(), `"event":"summary","unlogged":2`)
	})

	t.Run("idle timeout", func(t *testing.T) {
		srv := startServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
		target := fmt.Sprintf("127.0.0.1:%d", srv.port())
		p := startProxy(t, egress.Policy{Allow: allowlist(t, target), AllowPrivate: true, IdleTimeout: 300 * time.Millisecond}, nil)
		res, c, br := connect(t, p.addr, target, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		began := time.Now()
		_, err := io.WriteString(c, "ping")
		require.NoError(t, err)
		_, err = io.ReadAll(br) // ends when the proxy closes the quiet tunnel
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)
		require.Eventually(t, func() bool { return strings.Contains(p.out.String(), "without traffic") }, 5*time.Second, 10*time.Millisecond)
		p.stop()
		require.Equal(t, "closed after 300ms without traffic", decisions(t, p.out)[0].Reason)
	})

	t.Run("bytes over the run", func(t *testing.T) {
		srv := startServer(t, func(c net.Conn) { _, _ = c.Write(bytes.Repeat([]byte("x"), 5000)) })
		target := fmt.Sprintf("127.0.0.1:%d", srv.port())
		p := startProxy(t, egress.Policy{Allow: allowlist(t, target), AllowPrivate: true, MaxBytes: 1000}, nil)
		res, _, br := connect(t, p.addr, target, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		got, _ := io.ReadAll(br)
		require.Len(t, got, 1000, "not a byte past the limit")
		require.Eventually(t, func() bool { return strings.Contains(p.out.String(), "bytes is reached") }, 5*time.Second, 10*time.Millisecond)
		res, _, _ = connect(t, p.addr, target, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, "later tunnels are refused")
		p.stop()
		ds := decisions(t, p.out)
		require.Len(t, ds, 2)
		require.EqualValues(t, 1000, ds[0].In)
		require.Equal(t, "the run's limit of 1000 bytes is reached", ds[0].Reason)
		require.Equal(t, egress.Refused, ds[1].Outcome)
		require.EqualValues(t, 1, srv.accepted.Load())
	})

	t.Run("connections at once", func(t *testing.T) {
		srv := startServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
		target := fmt.Sprintf("127.0.0.1:%d", srv.port())
		p := startProxy(t, egress.Policy{Allow: allowlist(t, target), AllowPrivate: true, MaxOpen: 1}, nil)
		res, first, _ := connect(t, p.addr, target, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		second, err := net.Dial("tcp", p.addr) // waits in the backlog
		require.NoError(t, err)
		defer second.Close()
		_, err = fmt.Fprintf(second, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		require.NoError(t, err)
		require.NoError(t, second.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		_, err = second.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "no answer while the first is open")
		require.NoError(t, first.Close())
		require.NoError(t, second.SetReadDeadline(time.Now().Add(10*time.Second)))
		res, err = http.ReadResponse(bufio.NewReader(second), &http.Request{Method: http.MethodConnect})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, "answered once the first closed")
	})
}

func TestProxyStopEndsTunnelsWithALineEach(t *testing.T) {
	srv := startServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	target := fmt.Sprintf("127.0.0.1:%d", srv.port())
	p := startProxy(t, egress.Policy{Allow: allowlist(t, target), AllowPrivate: true}, nil)
	for range 3 {
		res, c, br := connect(t, p.addr, target, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		_, err := io.WriteString(c, "x")
		require.NoError(t, err)
		_, err = br.ReadByte()
		require.NoError(t, err)
	}
	p.stop()
	ds := decisions(t, p.out)
	require.Len(t, ds, 3)
	for _, d := range ds {
		require.Equal(t, egress.Allowed, d.Outcome)
		require.Equal(t, "the proxy stopped", d.Reason)
		require.EqualValues(t, 1, d.Out)
		require.EqualValues(t, 1, d.In)
	}
}

func TestArgsRoundTrip(t *testing.T) {
	policy := egress.Policy{Allow: allowlist(t, "api.openai.com:443", "*.example.com:8443"), AllowPrivate: true,
		MaxOpen: 3, MaxConnections: 4, IdleTimeout: 5 * time.Second, ConnectTimeout: 6 * time.Second, MaxBytes: 7}
	listen, got, err := egress.ParseArgs(policy.Args(":3128"), io.Discard)
	require.NoError(t, err)
	require.Equal(t, ":3128", listen)
	require.Equal(t, policy.Allow.Strings(), got.Allow.Strings())
	got.Allow, policy.Allow = nil, nil
	require.Equal(t, policy, got)

	_, _, err = egress.ParseArgs([]string{"--allow=*:443"}, io.Discard)
	require.ErrorContains(t, err, "allowlist entry")
}
