package workspace

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// httpsRemote serves handler over TLS on 127.0.0.1 and returns its base URL
// and a CA file that trusts it.
func httpsRemote(t *testing.T, handler http.HandlerFunc) (string, string) {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	return srv.URL, ca
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestCloneRemoteErrors(t *testing.T) {
	const token = "s3cr3t-token-value"
	notFound, ca1 := httpsRemote(t, func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) })
	authNeeded, ca2 := httpsRemote(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
	closed := closedPort(t)
	tests := []struct {
		name, url, ca string
		reason        CloneReason
		is            error
	}{
		{"https not found", notFound + "/team/repo.git", ca1, ReasonNotFound, derrors.ErrNotFound},
		{"https auth required", authNeeded + "/team/private.git", ca2, ReasonAuthRequired, nil},
		{"https credentials refused", strings.Replace(authNeeded, "https://", "https://alice:"+token+"@", 1) + "/team/private.git", ca2, ReasonAuthRequired, nil},
		{"https untrusted certificate", notFound + "/team/repo.git", "", ReasonUnreachable, derrors.ErrUnavailable},
		{"https connection refused", "https://" + closed + "/team/repo.git", "", ReasonUnreachable, derrors.ErrUnavailable},
		{"ssh connection refused", "ssh://git@" + closed + "/team/repo.git", "", ReasonUnreachable, derrors.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = tt.ca })
			start := time.Now()
			_, err := m.Prepare(t.Context(), "run_1", tt.url, "")
			var ce *CloneError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.reason, ce.Reason, "%v", err)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.Less(t, time.Since(start), 20*time.Second, "a clone needing credentials must fail, not prompt")
			for _, s := range []string{err.Error(), ce.Message(), ce.URL, ce.Detail} {
				require.NotContains(t, s, token)
				require.NotContains(t, s, m.cfg.Root)
			}
			t.Logf("message: %s; output: %q", ce.Message(), ce.Output)
			require.Empty(t, entries(t, m.cfg.Root))
		})
	}
}

// TestCloneHangs checks a clone that never completes is stopped by ctx or
// by CloneTimeout, with the whole process group (git-remote-https too).
func TestCloneHangs(t *testing.T) {
	var hung, released atomic.Int32
	reached := make(chan struct{}, 16)
	remote, ca := httpsRemote(t, func(_ http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		reached <- struct{}{}
		<-r.Context().Done() // the client went away: git-remote-https is dead
		released.Add(1)
	})
	tests := []struct {
		name         string
		cloneTimeout time.Duration
		ctx          func(t *testing.T) context.Context
		reason       CloneReason
	}{
		// The deadlines leave a loaded machine time to start git and reach
		// the server (500 ms did not, in CI beside other work).
		{"ctx deadline", 0, func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			t.Cleanup(cancel)
			return ctx
		}, ReasonTimeout},
		{"clone timeout", 3 * time.Second, func(t *testing.T) context.Context { return t.Context() }, ReasonTimeout},
		// Canceled once the request is held by the server, whatever the load.
		{"ctx canceled", 0, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				select {
				case <-reached:
					cancel()
				case <-ctx.Done():
				}
			}()
			return ctx
		}, ReasonCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.CAFile = ca; c.CloneTimeout = tt.cloneTimeout })
			for len(reached) > 0 { // forget the requests of earlier cases
				<-reached
			}
			before := hung.Load()
			start := time.Now()
			_, err := m.Prepare(tt.ctx(t), "run_1", remote+"/slow.git", "")
			elapsed := time.Since(start)
			var ce *CloneError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.reason, ce.Reason, "%v", err)
			require.Greater(t, hung.Load(), before, "the request reached the server")
			require.Less(t, elapsed, 10*time.Second)
			require.Eventually(t, func() bool { return released.Load() == hung.Load() }, 5*time.Second, 20*time.Millisecond,
				"git-remote-https survived the cancellation")
			require.Empty(t, entries(t, m.cfg.Root))
		})
	}
}

// TestHostEnvironmentIgnored sets, in this process, every environment
// variable that would make git run a program or read another config: host
// git must not inherit any of them.
func TestHostEnvironmentIgnored(t *testing.T) {
	src := newSource(t)
	markers, scripts := t.TempDir(), t.TempDir()
	config := hostile(t, scripts, markers)
	global := filepath.Join(scripts, "global.cfg")
	writeFile(t, global, config, 0o644)
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   global,
		"GIT_CONFIG_COUNT":    "1",
		"GIT_CONFIG_KEY_0":    "core.fsmonitor",
		"GIT_CONFIG_VALUE_0":  filepath.Join(scripts, ".evil", "fsmonitor"),
		"GIT_EXTERNAL_DIFF":   filepath.Join(scripts, ".evil", "diffext"),
		"GIT_PAGER":           filepath.Join(scripts, ".evil", "pager"),
		"GIT_SSH_COMMAND":     filepath.Join(scripts, ".evil", "sshcommand"),
		"GIT_ASKPASS":         filepath.Join(scripts, ".evil", "askpass"),
		"GIT_DIR":             filepath.Join(scripts, "nope"),
		"GIT_INDEX_FILE":      filepath.Join(scripts, "index"),
		"GIT_CONFIG_NOSYSTEM": "0",
	} {
		t.Setenv(k, v)
	}
	m := newManager(t, nil)
	w := prepare(t, m, "run_1", src, "")
	writeFile(t, filepath.Join(w.TreeDir(), "README.md"), "changed\n", 0o644)
	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"a/README.md b/README.md"}, patchPaths(patch))
	require.Empty(t, markersIn(t, markers))
	require.NoFileExists(t, filepath.Join(scripts, "index"))
}
