package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slipwayhq/slipway/platform/ipclass"
)

// Defaults of the proxy's bounds.
const (
	DefaultMaxOpen        = 32
	DefaultMaxConnections = 4096
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxBytes       = 1 << 30
)

// Port is where the proxy listens in its container.
const Port = 3128

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is what a proxy admits and the bounds it keeps. One proxy serves
// one run, so every bound is per run.
type Policy struct {
	// Allow lists the destinations; nil admits none.
	Allow *Allowlist
	// AllowPrivate lets admitted destinations have loopback, private,
	// link-local, CGNAT and reserved addresses (ipclass.Check); for tests
	// and local development only.
	AllowPrivate bool
	// MaxOpen bounds the client connections open at once; more wait to be
	// accepted.
	MaxOpen int
	// MaxConnections bounds the requests over the proxy's life; later ones
	// are refused, and only the first of those gets a line.
	MaxConnections int
	// IdleTimeout closes a tunnel after this long without a byte either way.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the lookup and the connection to a destination.
	ConnectTimeout time.Duration
	// MaxBytes bounds the bytes carried, both ways, over all tunnels; at the
	// limit tunnels close and new ones are refused.
	MaxBytes int64
}

func (p Policy) withDefaults() Policy {
	if p.Allow == nil {
		p.Allow = &Allowlist{}
	}
	if p.MaxOpen <= 0 {
		p.MaxOpen = DefaultMaxOpen
	}
	if p.MaxConnections <= 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.IdleTimeout <= 0 {
		p.IdleTimeout = DefaultIdleTimeout
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = DefaultConnectTimeout
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	return p
}

// Proxy is an HTTP forward proxy that only tunnels (CONNECT) to the
// destinations of its Policy. It looks names up itself, refuses a name if
// any of its addresses is refused by ipclass.Check, and connects to an address
// it checked, checking it once more on the socket, so a name that resolves
// elsewhere later is never looked up again (no DNS rebinding). Plain HTTP
// requests are refused: the agent's destinations speak https, and a proxy
// that never parses a forwarded request cannot be confused by one.
//
// Every request gets one Decision line on the proxy's output.
type Proxy struct {
	policy   Policy
	resolver Resolver
	srv      *http.Server
	ctx      context.Context // ends when the proxy stops
	stop     context.CancelFunc

	outMu sync.Mutex
	out   io.Writer

	requests atomic.Int64 // requests so far
	unlogged atomic.Int64 // refusals past MaxConnections without a line
	used     atomic.Int64 // bytes carried both ways

	mu       sync.Mutex
	stopping bool
	tunnels  map[*tunnel]struct{}
	active   sync.WaitGroup // handlers
}

// NewProxy returns a proxy for policy that writes its decisions to out as
// JSON lines. A nil resolver is Go's own (net.Resolver with PreferGo).
func NewProxy(policy Policy, resolver Resolver, out io.Writer) *Proxy {
	if resolver == nil {
		resolver = &net.Resolver{PreferGo: true}
	}
	p := &Proxy{policy: policy.withDefaults(), resolver: resolver, out: out, tunnels: map[*tunnel]struct{}{}}
	p.ctx, p.stop = context.WithCancel(context.Background())
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    8 << 10,
		BaseContext:       func(net.Listener) context.Context { return p.ctx },
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return p
}

// Serve accepts at most MaxOpen connections at once on ln, writes the
// listening line, and serves until Shutdown; it then returns nil.
func (p *Proxy) Serve(ln net.Listener) error {
	p.write(Decision{Event: EventListening, Listen: ln.Addr().String()})
	err := p.srv.Serve(newLimitListener(ln, p.policy.MaxOpen))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, ends every tunnel (each still gets its line),
// waits for the handlers within ctx and writes the summary line.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.stopping = true
	for t := range p.tunnels {
		t.end("the proxy stopped")
	}
	p.mu.Unlock()
	p.stop()
	err := p.srv.Shutdown(ctx)
	done := make(chan struct{})
	go func() { p.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	p.write(Decision{Event: EventSummary, Unlogged: p.unlogged.Load()})
	return err
}

// write outputs one line; lines never interleave.
func (p *Proxy) write(d Decision) {
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	_, _ = p.out.Write(append(b, '\n'))
}

// ServeHTTP decides on one request and, when admitted, tunnels it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		w.Header().Set("Connection", "close")
		http.Error(w, "slipway egress: stopping", http.StatusServiceUnavailable)
		return
	}
	p.active.Add(1)
	p.mu.Unlock()
	defer p.active.Done()

	began := time.Now()
	d := Decision{Event: EventConnection, Outcome: Refused}
	n := p.requests.Add(1)
	t, terr := p.target(r, &d)
	switch {
	case n > int64(p.policy.MaxConnections):
		if n > int64(p.policy.MaxConnections)+1 {
			p.unlogged.Add(1)
			p.deny(w, http.StatusForbidden, "connection limit reached")
			return
		}
		d.Reason = fmt.Sprintf("the run's limit of %d connections is reached; later refusals get no line of their own", p.policy.MaxConnections)
	case p.used.Load() >= p.policy.MaxBytes:
		d.Reason = fmt.Sprintf("the run's limit of %d bytes is reached", p.policy.MaxBytes)
	case terr != nil:
		d.Reason = terr.Error()
	case r.Method != http.MethodConnect:
		d.Reason = "plain HTTP is not forwarded; only https (CONNECT) is"
	case !p.policy.Allow.Allows(t):
		d.Reason = "not in the allowlist"
	default:
		p.connect(w, t, &d)
		d.Millis = time.Since(began).Milliseconds()
		p.write(d)
		return
	}
	dest := d.Host
	if d.Port != 0 {
		dest = t.String()
	}
	p.deny(w, http.StatusForbidden, "refused "+dest+": "+d.Reason)
	d.Millis = time.Since(began).Milliseconds()
	p.write(d)
}

// target reads the request's destination into d (as far as it can be read)
// and returns it. For CONNECT it is the authority; for other requests the
// absolute URL's host, for the line only.
func (p *Proxy) target(r *http.Request, d *Decision) (Target, error) {
	raw := r.Host
	if r.Method != http.MethodConnect {
		raw = r.URL.Host
		if raw == "" {
			raw = r.Host
		}
		if _, _, err := net.SplitHostPort(raw); err != nil && raw != "" {
			raw = net.JoinHostPort(raw, "80")
		}
	}
	t, err := ParseTarget(raw)
	if err != nil {
		d.Host = shownTarget(raw)
		return Target{}, fmt.Errorf("the request target is not host:port (%v)", err)
	}
	d.Host, d.Port = t.hostString(), t.Port
	return t, nil
}

// hostString is the target's host as a line shows it.
func (t Target) hostString() string {
	if t.Name != "" {
		return t.Name
	}
	if t.Addr.Is6() {
		return "[" + t.Addr.String() + "]"
	}
	return t.Addr.String()
}

// deny answers a refusal and closes the client connection.
func (p *Proxy) deny(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Connection", "close")
	http.Error(w, "slipway egress: "+msg, status)
}

// connect looks the destination up, checks its addresses, connects and
// tunnels, recording the outcome in d.
func (p *Proxy) connect(w http.ResponseWriter, t Target, d *Decision) {
	// Not the request's context: net/http ends it when the client shuts
	// its side, and a client may send its data and shut its side before
	// the tunnel is up (that data waits in the server's buffer).
	ctx, cancel := context.WithTimeout(p.ctx, p.policy.ConnectTimeout)
	defer cancel()
	addrs := []netip.Addr{t.Addr}
	if t.Name != "" {
		found, err := p.resolver.LookupNetIP(ctx, "ip", t.Name)
		if err != nil || len(found) == 0 {
			d.Outcome, d.Reason = Failed, "could not resolve the name"
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				d.Reason += ": no such host"
			}
			p.deny(w, http.StatusBadGateway, "failed "+t.String()+": "+d.Reason)
			return
		}
		addrs = found
	}
	for _, a := range addrs {
		if reason := ipclass.Check(a, p.policy.AllowPrivate).String(); reason != "" {
			d.Reason = reason
			if t.Name != "" {
				d.Reason = fmt.Sprintf("resolves to %s (%s)", reason, a.Unmap())
			}
			p.deny(w, http.StatusForbidden, "refused "+t.String()+": "+d.Reason)
			return
		}
	}
	// IPv4 first: the networks Slipway makes have no IPv6.
	sort.SliceStable(addrs, func(i, j int) bool { return addrs[i].Unmap().Is4() && !addrs[j].Unmap().Is4() })
	upstream, err := p.dial(ctx, addrs, t.Port)
	if err != nil {
		d.Outcome, d.Reason = Failed, "could not connect: "+shortError(err)
		p.deny(w, http.StatusBadGateway, "failed "+t.String()+": "+d.Reason)
		return
	}
	d.Addr = upstream.RemoteAddr().String()
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		d.Outcome, d.Reason = Failed, "the connection cannot be taken over"
		return
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		d.Outcome, d.Reason = Failed, "the connection cannot be taken over"
		return
	}
	_ = client.SetDeadline(time.Time{})
	d.Outcome = Allowed
	tun := &tunnel{client: client, upstream: upstream}
	if !p.register(tun) {
		tun.end("the proxy stopped")
	}
	defer p.unregister(tun)
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		tun.end("")
	}
	// Bytes the client sent right behind its request (a TLS hello) are in
	// the server's buffer, not the socket.
	early := make([]byte, brw.Reader.Buffered())
	_, _ = io.ReadFull(brw.Reader, early)
	p.splice(tun, early)
	d.Out, d.In, d.Reason = tun.out.Load(), tun.in.Load(), tun.reason()
}

// dial connects to the first address that answers. The socket's own
// address is checked again just before connecting.
func (p *Proxy) dial(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, error) {
	dialer := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if reason := ipclass.Check(ap.Addr(), p.policy.AllowPrivate).String(); reason != "" {
			return fmt.Errorf("refused %s: %s", ap.Addr(), reason)
		}
		return nil
	}}
	var errs []error
	for _, a := range addrs {
		c, err := dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// shortError is the cause of a dial error without the addresses Go puts
// around it ("connection refused", "i/o timeout").
func shortError(err error) string {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

func (p *Proxy) register(t *tunnel) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return false
	}
	p.tunnels[t] = struct{}{}
	return true
}

func (p *Proxy) unregister(t *tunnel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tunnels, t)
}

// take reserves up to n bytes of the byte budget and returns how many.
func (p *Proxy) take(n int) int {
	for {
		used := p.used.Load()
		left := p.policy.MaxBytes - used
		if left <= 0 {
			return 0
		}
		k := int64(n)
		if k > left {
			k = left
		}
		if p.used.CompareAndSwap(used, used+k) {
			return int(k)
		}
	}
}

// tunnel is one admitted connection: the agent's and the destination's.
type tunnel struct {
	client, upstream net.Conn
	out, in          atomic.Int64 // bytes agent → destination, and back
	last             atomic.Int64 // unix nanoseconds of the last byte read

	mu     sync.Mutex
	why    string
	closed bool
}

// end closes both connections; the first non-empty reason is kept.
func (t *tunnel) end(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.why == "" {
		t.why = reason
	}
	if !t.closed {
		t.closed = true
		_ = t.client.Close()
		_ = t.upstream.Close()
	}
}

func (t *tunnel) reason() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.why
}

// splice copies both ways until both ends are done, an error, the idle
// timeout or the byte budget ends the tunnel.
func (p *Proxy) splice(t *tunnel, early []byte) {
	t.last.Store(time.Now().UnixNano())
	idle := p.policy.IdleTimeout
	var watchdog *time.Timer
	watchdog = time.AfterFunc(idle, func() {
		quiet := time.Since(time.Unix(0, t.last.Load()))
		if quiet >= idle {
			t.end(fmt.Sprintf("closed after %s without traffic", idle))
			return
		}
		watchdog.Reset(idle - quiet)
	})
	defer watchdog.Stop()
	if len(early) > 0 && !p.forward(t, t.upstream, early, &t.out) {
		t.end("")
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(t, t.upstream, t.client, &t.out) }()
	go func() { defer wg.Done(); p.pipe(t, t.client, t.upstream, &t.in) }()
	wg.Wait()
	t.end("")
}

// pipe copies src to dst. At src's end it half-closes dst, so the other
// direction can finish (a client that sends its request, then shuts its
// side); on any error it ends the tunnel.
func (p *Proxy) pipe(t *tunnel, dst, src net.Conn, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			if !p.forward(t, dst, buf[:n], count) {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			t.end("")
			return
		}
		if err != nil {
			t.end("")
			return
		}
	}
}

// forward writes b to dst within the byte budget and reports whether the
// tunnel goes on.
func (p *Proxy) forward(t *tunnel, dst net.Conn, b []byte, count *atomic.Int64) bool {
	k := p.take(len(b))
	if k > 0 {
		if _, err := dst.Write(b[:k]); err != nil {
			t.end("")
			return false
		}
		count.Add(int64(k))
	}
	if k < len(b) {
		t.end(fmt.Sprintf("the run's limit of %d bytes is reached", p.policy.MaxBytes))
		return false
	}
	return true
}

// limitListener accepts at most n connections at once: the rest wait in the
// kernel's backlog.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when closed, and keeps TCP half-close.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
