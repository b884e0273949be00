package workspace

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/testenv/testtls"
)

// Loopback remotes for clone tests: TLS servers on 127.0.0.1 and 127.0.0.2
// with a certificate for localhost and both addresses, serving git's smart
// HTTP protocol through git http-backend, or whatever a test's handler
// answers.

// testTLS returns a server certificate for localhost, 127.0.0.1, 127.0.0.2
// and ::1, and a CA file that trusts it.
func testTLS(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	caPEM, cert, err := testtls.Issue([]string{"localhost", "localhost."},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv6loopback})
	require.NoError(t, err)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, caPEM, 0o644))
	return cert, ca
}

// serveTLS serves h with cert on ln until the test ends.
func serveTLS(t *testing.T, ln net.Listener, cert tls.Certificate, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
	}()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		<-done
	})
}

// listen listens on addr ("127.0.0.1:0").
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	return ln
}

// listenTwin listens on the same free port of 127.0.0.2 and 127.0.0.1.
func listenTwin(t *testing.T) (two, one net.Listener) {
	t.Helper()
	for range 20 {
		two = listen(t, "127.0.0.2:0")
		port := two.Addr().(*net.TCPAddr).Port
		one, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return two, one
		}
		two.Close()
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// gitBackend serves the bare repositories under root over git's smart HTTP
// protocol, counting the requests it answers.
func gitBackend(t *testing.T, root string, hits *atomic.Int32) http.Handler {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	require.NoError(t, err)
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + t.TempDir()},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		backend.ServeHTTP(w, r)
	})
}

// bareRepo makes root/team/repo.git, a bare repository whose one commit has
// README.md saying content; it returns root.
func bareRepo(t *testing.T, content string) string {
	t.Helper()
	src := t.TempDir()
	testGit(t, src, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(src, "README.md"), content, 0o644)
	testGit(t, src, "add", "-A")
	testGit(t, src, "commit", "-q", "-m", "base")
	root := t.TempDir()
	testGit(t, "", "clone", "-q", "--bare", src, filepath.Join(root, "team", "repo.git"))
	return root
}

func readme(t *testing.T, w *Workspace) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.TreeDir(), "README.md"))
	require.NoError(t, err)
	return string(b)
}

// TestClonePinned checks git connects only to the addresses the URL policy
// checked. The policy's lookup of localhost answered 127.0.0.2, where the
// repository is; by the time git runs, the name resolves to 127.0.0.1 (the
// machine's own resolver says so), where an internal server waits. Git
// must clone from 127.0.0.2 all the same.
func TestClonePinned(t *testing.T) {
	cert, ca := testTLS(t)
	two, one := listenTwin(t)
	var allowed, internal atomic.Int32
	serveTLS(t, two, cert, gitBackend(t, bareRepo(t, "the checked host\n"), &allowed))
	serveTLS(t, one, cert, gitBackend(t, bareRepo(t, "INTERNAL-ONLY\n"), &internal))
	url := fmt.Sprintf("https://localhost:%d/team/repo.git", port(two))

	// The policy's one lookup: first the checked address, then (rebinding)
	// the internal one.
	answers := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}
	checked := answers[:1]

	for _, tt := range []struct{ name, url string }{
		{"as written", url},
		{"upper case", strings.Replace(url, "localhost", "LocalHost", 1)},
		{"trailing dot", strings.Replace(url, "localhost", "localhost.", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = ca })
			before := allowed.Load()
			w, err := m.Prepare(t.Context(), "run_1", tt.url, "", Pin(checked...))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, w.Remove()) })
			require.Equal(t, "the checked host\n", readme(t, w))
			require.Greater(t, allowed.Load(), before)
			require.Zero(t, internal.Load(), "git reached the address the name resolves to now")
		})
	}

	t.Run("without the checked addresses", func(t *testing.T) {
		m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = ca })
		_, err := m.Prepare(t.Context(), "run_1", url, "")
		var ce *CloneError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, ReasonRefused, ce.Reason)
		require.ErrorIs(t, err, ErrURLNotAllowed)
		require.Zero(t, internal.Load())
	})
	t.Run("an ip address needs none", func(t *testing.T) {
		m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = ca })
		w, err := m.Prepare(t.Context(), "run_1", fmt.Sprintf("https://127.0.0.2:%d/team/repo.git", port(two)), "")
		require.NoError(t, err)
		require.NoError(t, w.Remove())
	})
}

// TestClonePinnedSSH checks an ssh clone connects to the checked address,
// and checks the host key known for the name: servers on the same port of
// 127.0.0.2 (checked) and 127.0.0.1 (where localhost resolves now) note
// who connects and hang up.
func TestClonePinnedSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	two, one := listenTwin(t)
	var allowed, internal atomic.Int32
	for ln, hits := range map[net.Listener]*atomic.Int32{two: &allowed, one: &internal} {
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
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	wrapper := filepath.Join(dir, "ssh")
	writeFile(t, wrapper, fmt.Sprintf("#!/bin/sh\necho \"$*\" > %s\nexec ssh \"$@\"\n", argsFile), 0o755)
	m := newManager(t, func(c *Config) {
		c.SSHCommand = wrapper + " -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null"
	})
	_, err := m.Prepare(t.Context(), "run_1", fmt.Sprintf("ssh://git@localhost:%d/team/repo.git", port(two)), "",
		Pin(netip.MustParseAddr("127.0.0.2")))
	var ce *CloneError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, ReasonUnreachable, ce.Reason, "%v: %s", err, ce.Output)
	require.Equal(t, int32(1), allowed.Load())
	require.Zero(t, internal.Load(), "ssh reached the address the name resolves to now")
	args, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	require.Contains(t, string(args), "-o HostName=127.0.0.2 -o HostKeyAlias=localhost ")
}

// TestCloneRedirectRefused checks git follows no redirect: not to another
// host, where an internal server answers, and not on the same host either.
func TestCloneRedirectRefused(t *testing.T) {
	cert, ca := testTLS(t)
	var target atomic.Int32
	targetLn := listen(t, "127.0.0.2:0")
	serveTLS(t, targetLn, cert, gitBackend(t, bareRepo(t, "INTERNAL-ONLY\n"), &target))
	redirector := listen(t, "127.0.0.1:0")
	serveTLS(t, redirector, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/same/") {
			http.Redirect(w, r, strings.Replace(r.URL.String(), "/same/", "/team/", 1), http.StatusMovedPermanently)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("https://127.0.0.2:%d%s", port(targetLn), r.URL.RequestURI()), http.StatusFound)
	}))
	for _, path := range []string{"/team/repo.git", "/same/repo.git"} {
		t.Run(path, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = ca })
			_, err := m.Prepare(t.Context(), "run_1", fmt.Sprintf("https://127.0.0.1:%d%s", port(redirector), path), "")
			var ce *CloneError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, ReasonRedirect, ce.Reason, "%v: %s", err, ce.Output)
			require.Contains(t, ce.Message(), "redirects are refused")
			require.Zero(t, target.Load(), "git followed the redirect")
			require.Empty(t, entries(t, m.cfg.Root))
		})
	}
}

// TestCloneErrorsKeepRemoteText checks what a remote writes never reaches
// the error shown to the user nor Prepare's error: an error page, an error
// packet of git's protocol, a body that is not git's. The text does reach
// git (Output, kept for operators' logs), so the check is not empty.
func TestCloneErrorsKeepRemoteText(t *testing.T) {
	const secret = "INTERNAL-ONLY: db_password=hunter2"
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	cert, ca := testTLS(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  CloneReason
		msg     string
		leaked  string // what of the secret git shows
	}{
		{"500 with a body", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, secret, http.StatusInternalServerError)
		}, ReasonRemoteError, "could not be cloned: the remote answered HTTP 500", secret},
		{"403 with a body", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, secret, http.StatusForbidden)
		}, ReasonAuthRequired, "requires authentication", secret},
		{"404 with a body", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, secret, http.StatusNotFound)
		}, ReasonNotFound, "not found", secret},
		{"git error packet", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			fmt.Fprint(w, pkt("# service=git-upload-pack\n")+"0000"+pkt("ERR "+secret+"\n"))
		}, ReasonOther, "the remote reported an error", secret},
		{"not git", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			fmt.Fprint(w, secret)
		}, ReasonOther, "the remote did not answer as a git server", "INTE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t, "127.0.0.1:0")
			serveTLS(t, ln, cert, tt.handler)
			m := newManager(t, func(c *Config) { c.AllowFile = false; c.CAFile = ca })
			_, err := m.Prepare(t.Context(), "run_1", fmt.Sprintf("https://127.0.0.1:%d/team/repo.git", port(ln)), "")
			var ce *CloneError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.reason, ce.Reason, "%v: %s", err, ce.Output)
			require.Contains(t, ce.Message(), tt.msg)
			require.Contains(t, ce.Output, tt.leaked, "the remote's text reached git")
			for _, s := range []string{ce.Message(), err.Error()} {
				require.NotContains(t, s, "INTE")
				require.NotContains(t, s, "hunter2")
				require.NotContains(t, s, "remote:")
			}
			t.Logf("message: %s", ce.Message())
		})
	}
}

// TestPinFor checks the settings a pin adds, for each transport.
func TestPinFor(t *testing.T) {
	m := &Manager{cfg: Config{SSHCommand: DefaultSSHCommand}}
	v4, v6 := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")
	tests := []struct {
		url   string
		addrs []netip.Addr
		want  pin
		err   string
	}{
		{"https://git.example.org/a/b", []netip.Addr{v4, v6}, pin{config: []string{
			"http.curloptResolve=git.example.org:443:192.0.2.7,[2001:db8::7]",
			"http.curloptResolve=git.example.org.:443:192.0.2.7,[2001:db8::7]"}}, ""},
		{"https://Git.Example.org.:0443/a/b", []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.7")}, pin{config: []string{
			"http.curloptResolve=Git.Example.org.:443:192.0.2.7",
			"http.curloptResolve=Git.Example.org:443:192.0.2.7"}}, ""},
		{"ssh://git@git.example.org:2222/a/b", []netip.Addr{v6, v4}, pin{env: []string{
			"GIT_SSH_COMMAND=ssh -o BatchMode=yes -o HostName=2001:db8::7 -o HostKeyAlias=git.example.org"}}, ""},
		{"git@git.example.org.:a/b", []netip.Addr{v4}, pin{env: []string{
			"GIT_SSH_COMMAND=ssh -o BatchMode=yes -o HostName=192.0.2.7 -o HostKeyAlias=git.example.org"}}, ""},
		{"https://192.0.2.7/a/b", nil, pin{}, ""},
		{"git@[2001:db8::7]:a/b", nil, pin{}, ""},
		{"file:///srv/x", nil, pin{}, ""},
		{"https://git.example.org/a/b", nil, pin{}, "no checked addresses"},
		{"git@git.example.org:a/b", nil, pin{}, "no checked addresses"},
		{"https://git.example.org/a/b", []netip.Addr{{}}, pin{}, "not usable"},
		{"https://git.example.org/a/b", []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}, pin{}, "not usable"},
	}
	for _, tt := range tests {
		r, err := ParseURL(tt.url, true)
		require.NoError(t, err, tt.url)
		got, err := m.pinFor(r, tt.addrs)
		if tt.err != "" {
			require.ErrorIs(t, err, ErrURLNotAllowed, tt.url)
			require.ErrorContains(t, err, tt.err, tt.url)
			continue
		}
		require.NoError(t, err, tt.url)
		require.Equal(t, tt.want, got, tt.url)
	}
}
