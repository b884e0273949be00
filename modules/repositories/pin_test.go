package repositories

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/workspace"
)

// TestCloneConnectsWhereResolveLooked follows a URL from the policy's
// clone-time check to git's connection. The name server answers 127.0.0.2
// first and 127.0.0.1 after (rebinding), and the machine resolves localhost
// to 127.0.0.1 too; listeners on the same port of both addresses note who
// connects. Git must connect to 127.0.0.2 alone.
func TestCloneConnectsWhereResolveLooked(t *testing.T) {
	var two, one net.Listener
	for range 20 {
		var err error
		two, err = net.Listen("tcp", "127.0.0.2:0")
		require.NoError(t, err)
		if one, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", two.Addr().(*net.TCPAddr).Port)); err == nil {
			break
		}
		two.Close()
	}
	require.NotNil(t, one, "no port free on both 127.0.0.1 and 127.0.0.2")
	var checked, rebound atomic.Int32
	for ln, hits := range map[net.Listener]*atomic.Int32{two: &checked, one: &rebound} {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				hits.Add(1)
				c.Close()
			}
		}()
	}

	r := &rebinder{first: netip.MustParseAddr("127.0.0.2"), then: netip.MustParseAddr("127.0.0.1")}
	policy := &URLPolicy{AllowPrivate: true, Resolver: r}
	wsm, err := workspace.NewManager(workspace.Config{Root: filepath.Join(t.TempDir(), "ws"), OwnerUID: 65534, OwnerGID: 65534})
	require.NoError(t, err)
	port := two.Addr().(*net.TCPAddr).Port
	for i, url := range []string{
		fmt.Sprintf("https://localhost:%d/team/repo.git", port),
		fmt.Sprintf("ssh://git@localhost:%d/team/repo.git", port),
	} {
		r.calls.Store(0)
		before := checked.Load()
		addrs, err := policy.Resolve(context.Background(), url)
		require.NoError(t, err)
		require.Equal(t, []netip.Addr{r.first}, addrs)
		_, err = wsm.Prepare(t.Context(), fmt.Sprintf("run_%d", i), url, "", workspace.Pin(addrs...))
		var ce *workspace.CloneError
		require.ErrorAs(t, err, &ce, "the listeners hang up")
		require.Equal(t, before+1, checked.Load(), "%s: git connected to the checked address", url)
		require.Zero(t, rebound.Load(), "%s: git connected to the address the name resolves to now", url)
		require.Equal(t, int64(1), r.calls.Load(), "one lookup")
	}
}
