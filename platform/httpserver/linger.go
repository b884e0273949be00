package httpserver

import (
	"io"
	"net"
	"sync"
	"time"
)

// serverLinger bounds the server's lingering closes (see lingerListener):
// a closed connection is drained for at most 5 s and 8 MiB, and at most
// 256 drain at once; past that a connection is closed at once.
var serverLinger = lingerBounds{time: 5 * time.Second, bytes: 8 << 20, slots: 256}

// lingerListener gives the server's connections a lingering close, as
// nginx and net/http do and fasthttp does not: when the server closes a
// connection it first ends its own side (FIN, after the answer already
// written), then reads and discards what the client still sends, within
// lingerTime and lingerBytes, and only then closes.
//
// The server refuses some requests before reading them to their end: 431
// for headers past http.max_header_bytes, 413 for a body past
// http.max_body_bytes. A socket closed with bytes unread is reset by the
// kernel, and a client still sending gets the reset on its write and loses
// the answer: Go's client did for 43 of 50 oversized uploads, and browsers
// show a network error (fasthttp#1348). Draining lets the envelope arrive.
type lingerListener struct {
	net.Listener
	bounds lingerBounds
	slots  chan struct{}
}

// lingerBounds bound one connection's drain, and how many drain at once.
type lingerBounds struct {
	time  time.Duration
	bytes int64
	slots int
}

func newLingerListener(ln net.Listener, b lingerBounds) *lingerListener {
	return &lingerListener{Listener: ln, bounds: b, slots: make(chan struct{}, b.slots)}
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return &lingerConn{TCPConn: tc, l: l}, nil
}

// lingerConn is a connection whose Close lingers.
type lingerConn struct {
	*net.TCPConn
	l    *lingerListener
	once sync.Once
	err  error
}

// Close ends the server's side at once and drains the client's in the
// background, so neither the serving goroutine nor a shutdown waits for a
// slow client.
func (c *lingerConn) Close() error {
	c.once.Do(func() {
		slots := c.l.slots
		select {
		case slots <- struct{}{}:
		default: // too many draining: a reset is the lesser harm
			c.err = c.TCPConn.Close()
			return
		}
		if err := c.TCPConn.CloseWrite(); err != nil {
			<-slots
			c.err = c.TCPConn.Close()
			return
		}
		go func() {
			defer func() { <-slots }()
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(c.l.bounds.time))
			_, _ = io.CopyN(io.Discard, c.TCPConn, c.l.bounds.bytes)
			_ = c.TCPConn.Close()
		}()
	})
	return c.err
}
