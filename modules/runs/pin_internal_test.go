package runs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// checkedRepos is a repository whose URL policy check answers addrs.
type checkedRepos struct {
	access.Repositories
	url   string
	addrs []netip.Addr
}

func (r checkedRepos) VisibleRepository(context.Context, identity.Principal, string) (access.Repository, error) {
	return access.Repository{ID: "rep_1", URL: r.url}, nil
}

func (r checkedRepos) CheckURL(context.Context, string) (access.URLCheck, error) {
	return access.URLCheck{Addrs: r.addrs}, nil
}

// TestCloneGoesWhereThePolicyLooked checks the worker hands the addresses
// the URL policy checked to the clone: the policy answered 127.0.0.2 for
// localhost, which the machine resolves to 127.0.0.1, and git connects to
// 127.0.0.2.
func TestCloneGoesWhereThePolicyLooked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var connected atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connected.Add(1)
			c.Close()
		}
	}()
	wsm, err := workspace.NewManager(workspace.Config{Root: filepath.Join(t.TempDir(), "ws"), OwnerUID: 65534, OwnerGID: 65534})
	require.NoError(t, err)
	w := &Worker{wsm: wsm, log: zap.NewNop(), repos: checkedRepos{
		url:   fmt.Sprintf("https://localhost:%d/team/repo.git", ln.Addr().(*net.TCPAddr).Port),
		addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")},
	}}
	x := &execution{w: w, run: &Run{ID: "run_1", RepositoryID: "rep_1", Branch: "main"}, log: zap.NewNop()}
	require.NoError(t, x.checkRepository(t.Context()))
	err = x.prepareWorkspace(t.Context())
	var f failure
	require.ErrorAs(t, err, &f)
	require.Contains(t, string(f), "could not connect", "the TLS handshake with the listener fails")
	require.Equal(t, int32(1), connected.Load(), "git connected to the checked address")
}
