package httpserver

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lingerPair is a lingering listener on loopback and one connection to
// it: server is the accepted side, client the dialled one.
func lingerPair(t *testing.T, l *lingerListener) (server, client net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	require.NoError(t, err)
	return server, client
}

func newTestLinger(t *testing.T, b lingerBounds) *lingerListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return newLingerListener(ln, b)
}

// sendUntilRefused writes to c until a write fails, up to limit bytes, and
// returns how much it wrote and the error.
func sendUntilRefused(c net.Conn, limit int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for n < limit {
		w, err := c.Write(buf)
		n += int64(w)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestLingerDeliversTheAnswer: the answer written before Close arrives
// whole, and a client still sending is read, not reset.
func TestLingerDeliversTheAnswer(t *testing.T) {
	l := newTestLinger(t, lingerBounds{time: time.Minute, bytes: 64 << 20, slots: 4})
	server, client := lingerPair(t, l)
	_, err := io.WriteString(server, "answer")
	require.NoError(t, err)
	require.NoError(t, server.Close())
	n, err := sendUntilRefused(client, 4<<20) // after the server's Close
	require.NoError(t, err)
	require.EqualValues(t, 4<<20, n)
	got, err := io.ReadAll(client)
	require.NoError(t, err)
	require.Equal(t, "answer", string(got))
}

// TestLingerIsBounded: a client that sends forever after the server closed
// is cut off past the byte bound, one that trickles past the time bound,
// and with every slot draining the next connection closes at once.
func TestLingerIsBounded(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		l := newTestLinger(t, lingerBounds{time: time.Minute, bytes: 1 << 20, slots: 4})
		server, client := lingerPair(t, l)
		require.NoError(t, server.Close())
		n, err := sendUntilRefused(client, 1<<30)
		require.Error(t, err, "a client sending forever is cut off")
		require.Less(t, n, int64(64<<20), "well before 1 GiB: the drain stopped near 1 MiB, plus socket buffers")
	})
	t.Run("time", func(t *testing.T) {
		l := newTestLinger(t, lingerBounds{time: 300 * time.Millisecond, bytes: 1 << 40, slots: 4})
		server, client := lingerPair(t, l)
		began := time.Now()
		require.NoError(t, server.Close())
		_, err := sendUntilRefused(client, 8<<30)
		require.Error(t, err, "a client sending forever is cut off")
		require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, "drained until the time bound")
	})
	t.Run("slots", func(t *testing.T) {
		l := newTestLinger(t, lingerBounds{time: time.Minute, bytes: 1 << 40, slots: 1})
		first, _ := lingerPair(t, l)
		require.NoError(t, first.Close()) // drains, holding the only slot
		second, client := lingerPair(t, l)
		_, err := client.Write([]byte("unread"))
		require.NoError(t, err)
		require.NoError(t, second.Close())
		_, err = sendUntilRefused(client, 1<<30)
		require.Error(t, err, "closed at once, not drained")
	})
}
