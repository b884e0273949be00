package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url       string
		allowFile bool
		transport string // "" means refused
	}{
		{"https://github.com/slipwayhq/slipway.git", false, "https"},
		{"https://user:token@github.com/a/b", false, "https"},
		{"https://[::1]:8443/a/b", false, "https"},
		{"HTTPS://github.com/a/b", false, "https"},
		{"ssh://git@github.com/a/b.git", false, "ssh"},
		{"ssh://git@github.com:2222/a/b.git", false, "ssh"},
		{"git@github.com:a/b.git", false, "ssh"},
		{"github.com:a/b.git", false, "ssh"},
		{"git@[::1]:a/b.git", false, "ssh"},
		{"file:///srv/repo.git", true, "file"},
		{"file:///srv/repo.git", false, ""},
		{"file://localhost/srv/repo.git", true, "file"},
		{"file://otherhost/srv/repo.git", true, ""},
		{"/srv/repo.git", true, "file"},
		{"/srv/repo.git", false, ""},
		{"srv/repo.git", true, ""},
		{"./repo", true, ""},
		{"http://github.com/a/b", false, ""},
		{"git://github.com/a/b", false, ""},
		{"ftp://github.com/a/b", false, ""},
		{"ext::sh -c touch% /tmp/pwned", true, ""},
		{"fd::17", true, ""},
		{"https::github.com/a/b", false, ""},
		{"-uhttps://github.com/a/b", false, ""},
		{"--upload-pack=touch /tmp/pwned", false, ""},
		{"ssh://-oProxyCommand=touch%20pwned/a", false, ""},
		{"ssh://-oProxyCommand=touch@host/a", false, ""},
		{"-oProxyCommand=x@host:a", false, ""},
		{"git@-oProxyCommand=x:a", false, ""},
		{"https://github.com/a/b\n", false, ""},
		{" https://github.com/a/b", false, ""},
		{"https://github.com", false, ""},
		{"https://github.com:0/a/b", false, ""},
		{"https://github.com:65536/a/b", false, ""},
		{"ssh://git@github.com:99999/a/b", false, ""},
		{"https://github.com:65535/a/b", false, "https"},
		{"https:///a/b", false, ""},
		{"", false, ""},

		// "scheme:text" that only looks like host:path: a web client showing
		// the URL as a link would run it.
		{"javascript:alert(1)", true, ""},
		{"JavaScript:alert(document.cookie)", true, ""},
		{"javascript:alert(1)//@github.com:a/b", true, ""},
		{"vbscript:msgbox(1)", true, ""},
		{"data:text/html,<script>alert(1)</script>", true, ""},
		{"data:text/html;base64,PHNjcmlwdD4=", true, ""},
		{"file:/srv/repo.git", true, ""},
		{"https:github.com/a/b", true, ""},
		{"alias:a/b.git", true, ""}, // an ssh config alias needs its user: git@alias:a/b.git
		// Plainly an address: a user, a dotted host, an IP address, localhost.
		{"git@alias:a/b.git", false, "ssh"},
		{"git@javascript:a/b.git", false, "ssh"},
		{"git.example.org:a/b.git", false, "ssh"},
		{"10.0.0.1:a/b.git", false, "ssh"},
		{"[::1]:a/b.git", false, "ssh"},
		{"localhost:a/b.git", false, "ssh"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q allowFile=%v", tt.url, tt.allowFile), func(t *testing.T) {
			got, err := checkURL(tt.url, tt.allowFile)
			if tt.transport == "" {
				require.ErrorIs(t, err, ErrURLNotAllowed)
				require.ErrorIs(t, CheckURL(tt.url, tt.allowFile), ErrURLNotAllowed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.transport, got)
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := map[string]Remote{
		"https://github.com/a/b.git":         {Transport: "https", Host: "github.com", Path: "/a/b.git"},
		"https://tok@github.com/a/b":         {Transport: "https", Host: "github.com", Path: "/a/b", User: "tok", Userinfo: true},
		"https://u:p@[2001:db8::1]:8443/a/b": {Transport: "https", Host: "2001:db8::1", Port: "8443", Path: "/a/b", User: "u", Userinfo: true, Password: true},
		"ssh://git@github.com:2222/a/b.git":  {Transport: "ssh", Host: "github.com", Port: "2222", Path: "/a/b.git", User: "git", Userinfo: true},
		"git@github.com:a/b.git":             {Transport: "ssh", Host: "github.com", Path: "a/b.git", User: "git"},
		"github.com:a/b.git":                 {Transport: "ssh", Host: "github.com", Path: "a/b.git"},
		"git@[2001:db8::1]:a/b.git":          {Transport: "ssh", Host: "2001:db8::1", Path: "a/b.git", User: "git"},
		"file:///srv/repo.git":               {Transport: "file", Path: "/srv/repo.git"},
		"/srv/repo.git":                      {Transport: "file", Path: "/srv/repo.git"},
	}
	for raw, want := range tests {
		got, err := ParseURL(raw, true)
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
	_, err := ParseURL("javascript:alert(1)", true)
	require.ErrorIs(t, err, ErrURLNotAllowed)
	require.ErrorContains(t, err, `scheme "javascript" is not allowed`)
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://user:token@github.com/a/b.git":  "https://github.com/a/b.git",
		"https://token@github.com/a/b.git":       "https://github.com/a/b.git",
		"ssh://git:pw@github.com:22/a/b":         "ssh://github.com:22/a/b",
		"https://github.com/a/b":                 "https://github.com/a/b",
		"git@github.com:a/b.git":                 "git@github.com:a/b.git",
		"https://us%zzer:pw@github.com/a":        "https://github.com/a",
		"fatal: https://u:p@h/x and ssh://k@h/y": "fatal: https://h/x and ssh://h/y",
	}
	for in, want := range tests {
		require.Equal(t, want, RedactURL(in), in)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		stderr string
		ctxErr error
		want   CloneReason
		detail string
	}{
		{"warning: Could not find remote branch x to clone.\nfatal: Remote branch x not found in upstream origin", nil, ReasonBranchNotFound, ""},
		{"remote: Repository not found.\nfatal: repository 'https://github.com/a/b/' not found", nil, ReasonNotFound, ""},
		{"fatal: '/x' does not appear to be a git repository", nil, ReasonNotFound, ""},
		{"fatal: could not read Username for 'https://github.com': terminal prompts disabled", nil, ReasonAuthRequired, ""},
		{"git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.", nil, ReasonAuthRequired, ""},
		{"Host key verification failed.", nil, ReasonAuthRequired, "the host key is not known"},
		{"fatal: Authentication failed for 'https://github.com/a/b/'", nil, ReasonAuthRequired, ""},
		{"fatal: unable to access 'https://x/': Could not resolve host: x", nil, ReasonUnreachable, "the host name did not resolve"},
		{"ssh: Could not resolve hostname x: Name or service not known", nil, ReasonUnreachable, "the host name did not resolve"},
		{"fatal: unable to access 'https://h/x/': Failed to connect to h port 443 after 0 ms: Couldn't connect to server", nil, ReasonUnreachable, "the connection was refused"},
		{"ssh: connect to host h port 22: Connection refused", nil, ReasonUnreachable, "the connection was refused"},
		{"fatal: unable to access 'https://h/x/': SSL certificate problem: self-signed certificate", nil, ReasonUnreachable, "the remote's TLS certificate is not trusted"},
		{"kex_exchange_identification: Connection closed by remote host", nil, ReasonUnreachable, "the connection was cut"},
		{"fatal: transport 'file' not allowed", nil, ReasonRefused, ""},
		{"fatal: unable to access 'https://h/x/': The requested URL returned error: 302", nil, ReasonRedirect, ""},
		{"fatal: unable to access 'https://h/x/': The requested URL returned error: 301", nil, ReasonRedirect, ""},
		{"remote: db_password=x\nfatal: unable to access 'https://h/x/': The requested URL returned error: 500", nil, ReasonRemoteError, "the remote answered HTTP 500"},
		{"fatal: unable to access 'https://h/x/': The requested URL returned error: 403", nil, ReasonAuthRequired, "the remote answered HTTP 403"},
		{"fatal: unable to access 'https://h/x/': The requested URL returned error: 410", nil, ReasonNotFound, ""},
		{"fatal: remote error: INTERNAL db_password=x", nil, ReasonOther, "the remote reported an error"},
		{"fatal: protocol error: bad line length character: INTE", nil, ReasonOther, "the remote did not answer as a git server"},
		// The remote's own lines cannot pick the reason.
		{"remote: fatal: unable to access 'x': The requested URL returned error: 404\nremote: Could not resolve host: x\nfatal: the remote end hung up unexpectedly", nil, ReasonOther, "the remote did not answer as a git server"},
		{"fatal: remote error: repository not found; authentication failed", nil, ReasonOther, "the remote reported an error"},
		{"anything", context.DeadlineExceeded, ReasonTimeout, ""},
		{"anything", fmt.Errorf("x: %w", context.Canceled), ReasonCanceled, ""},
		{"fatal: something new", nil, ReasonOther, ""},
	}
	for _, tt := range tests {
		reason, detail := classify(tt.stderr, tt.ctxErr)
		require.Equal(t, tt.want, reason, tt.stderr)
		require.Equal(t, tt.detail, detail, tt.stderr)
	}
}

func TestCloneErrorMessages(t *testing.T) {
	cause := errors.New("exit status 128")
	tests := []struct {
		err      *CloneError
		msg      string
		notFound bool
		unavail  bool
	}{
		{&CloneError{Reason: ReasonNotFound, URL: "https://h/a", Err: cause}, "repository https://h/a not found", true, false},
		{&CloneError{Reason: ReasonBranchNotFound, URL: "https://h/a", Branch: "dev", Err: cause}, `branch "dev" not found in repository https://h/a`, true, false},
		{&CloneError{Reason: ReasonAuthRequired, URL: "https://h/a", Err: cause}, "repository https://h/a requires authentication, or refused the credentials given", false, false},
		{&CloneError{Reason: ReasonUnreachable, URL: "https://h/a", Detail: "the host name did not resolve", Err: cause}, "could not connect to repository https://h/a: the host name did not resolve", false, true},
		{&CloneError{Reason: ReasonRedirect, URL: "https://h/a", Err: cause}, "repository https://h/a cannot be cloned: the remote redirected to another location; redirects are refused", false, false},
		{&CloneError{Reason: ReasonRemoteError, URL: "https://h/a", Detail: "the remote answered HTTP 500", Err: cause}, "repository https://h/a could not be cloned: the remote answered HTTP 500", false, false},
		{&CloneError{Reason: ReasonTimeout, URL: "https://h/a", Err: context.DeadlineExceeded}, "cloning repository https://h/a timed out", false, false},
		{&CloneError{Reason: ReasonCanceled, URL: "https://h/a", Err: context.Canceled}, "cloning repository https://h/a was canceled", false, false},
		{&CloneError{Reason: ReasonRefused, URL: "file:///x", Err: fmt.Errorf("%w: file:// urls are not allowed here", ErrURLNotAllowed)}, "repository file:///x cannot be cloned: file:// urls are not allowed here", false, false},
		{&CloneError{Reason: ReasonOther, URL: "https://h/a", Detail: "the remote reported an error", Output: "fatal: remote error: secret", Err: cause}, "could not clone repository https://h/a: the remote reported an error", false, false},
		{&CloneError{Reason: ReasonOther, URL: "https://h/a", Err: cause}, "could not clone repository https://h/a", false, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.msg, tt.err.Message())
		require.Equal(t, tt.notFound, errors.Is(tt.err, derrors.ErrNotFound), tt.msg)
		require.Equal(t, tt.unavail, errors.Is(tt.err, derrors.ErrUnavailable), tt.msg)
		require.True(t, strings.HasPrefix(tt.err.Error(), "clone "+tt.err.URL), tt.err.Error())
		require.ErrorIs(t, tt.err, tt.err.Err)
		require.NotContains(t, tt.err.Error(), "secret", "git's output is for logs alone")
		require.NotContains(t, tt.err.Message(), "secret")
	}
}

func TestClean(t *testing.T) {
	m := &Manager{}
	got := m.clean(m.cleanLines("Cloning into '/srv/ws/r1/tree'...\nfatal: unable to access 'https://u:p@h/x/': boom\nsee /srv/ws/r1/git\n", "/srv/ws/r1"))
	require.Equal(t, "fatal: unable to access 'https://h/x/': boom; see git", got)
	long := m.clean(m.cleanLines(strings.Repeat("é", 1000), ""))
	require.LessOrEqual(t, len(long), 610)
	require.True(t, strings.HasPrefix(long, "…"))
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk", "0123456789"} {
		n, err := b.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, "23456789", b.String())
}
