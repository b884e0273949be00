package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proxy is a TCP proxy on a loopback port in front of the test server. Tests
// use it to take "the database" away from one app and give it back — refused
// connections, connections dropped mid-session — without touching the
// PostgreSQL server other tests share.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while down
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the host of dsn and returns it; it stops when
// the test ends.
func NewProxy(t testing.TB, dsn string) *Proxy {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &Proxy{t: t, target: u.Host, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// URL returns dsn with its host replaced by the proxy's address.
func (p *Proxy) URL(dsn string) string {
	u, err := url.Parse(dsn)
	require.NoError(p.t, err)
	u.Host = p.addr
	return u.String()
}

// Down closes the listener and every proxied connection: new connections
// are refused and sessions in use see their connection reset, as when the
// server stops. It returns once every forwarding goroutine has ended.
func (p *Proxy) Down() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.closeConnsLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

// Cut drops every proxied connection but keeps accepting new ones, as when
// the server restarts between two queries of an idle pool.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.closeConnsLocked()
	p.mu.Unlock()
}

// Up listens again on the same address after Down.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err, "listen again on %s", p.addr)
	p.serveLocked(ln)
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return // closed by Down
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(client)
			}()
		}
	}()
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends at EOF, a reset, or a close by Cut/Down
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
