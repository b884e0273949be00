package repositories

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// fakeResolver answers from a table; names not in it do not exist.
type fakeResolver struct {
	answers map[string][]string
	errs    map[string]error
	calls   atomic.Int64
}

func (f *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.calls.Add(1)
	if network != "ip" {
		return nil, errors.New("unexpected network " + network)
	}
	if err, ok := f.errs[host]; ok {
		if err == context.DeadlineExceeded {
			<-ctx.Done()
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}
		return nil, err
	}
	raw, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range raw {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func testResolver() *fakeResolver {
	return &fakeResolver{
		answers: map[string][]string{
			"github.com":          {"140.82.121.4", "2606:50c0:8000::154"},
			"git.example.org":     {"93.184.216.34"},
			"intranet.example":    {"10.1.2.3"},
			"mixed.example":       {"93.184.216.34", "192.168.1.10"},
			"v6private.example":   {"fd00::1"},
			"mapped.example":      {"::ffff:127.0.0.1"},
			"metadata.example":    {"169.254.169.254"},
			"empty.example":       {},
			"cgnat.example":       {"100.64.0.1"},
			"nat64-private.test":  {"64:ff9b::a00:1"},
			"nat64-public.test":   {"64:ff9b::5db8:d822"},
			"sixtofour-local.net": {"2002:7f00:1::1"},
		},
		errs: map[string]error{
			"servfail.example": &net.DNSError{Err: "server misbehaving", Name: "servfail.example", IsTemporary: true},
			"slow.example":     context.DeadlineExceeded,
		},
	}
}

func TestURLPolicy(t *testing.T) {
	type want int
	const (
		ok want = iota
		refusedURL
		unavailable
	)
	tests := []struct {
		url          string
		allowFile    bool
		allowPrivate bool
		want         want
		reason       string // a part of the refusal reason
	}{
		// Accepted forms.
		{url: "https://github.com/slipwayhq/slipway.git", want: ok},
		{url: "https://github.com/slipwayhq/slipway", want: ok},
		{url: "HTTPS://github.com/a/b", want: ok},
		{url: "https://github.com./a/b", want: ok},
		{url: "https://93.184.216.34/a/b.git", want: ok},
		{url: "https://[2606:50c0:8000::154]:8443/a/b", want: ok},
		{url: "ssh://git@github.com/a/b.git", want: ok},
		{url: "ssh://git@github.com:2222/a/b.git", want: ok},
		{url: "ssh://github.com/a/b.git", want: ok},
		{url: "git@github.com:a/b.git", want: ok},
		{url: "github.com:a/b.git", want: ok},
		{url: "git@[2606:50c0:8000::154]:a/b.git", want: ok},
		{url: "https://nat64-public.test/a/b", want: ok},

		// Refused schemes and shapes.
		{url: "", want: refusedURL, reason: "must not be empty"},
		{url: "http://github.com/a/b", want: refusedURL, reason: `scheme "http" is not allowed`},
		{url: "git://github.com/a/b", want: refusedURL, reason: `scheme "git" is not allowed`},
		{url: "ftp://github.com/a/b", want: refusedURL, reason: "not allowed"},
		{url: "ext::sh -c touch% /tmp/pwned", want: refusedURL, reason: "whitespace"},
		{url: "ext::sh", allowFile: true, want: refusedURL, reason: "remote helper"},
		{url: "fd::17", want: refusedURL, reason: "remote helper"},
		{url: "-uhttps://github.com/a/b", want: refusedURL, reason: "'-'"},
		{url: "--upload-pack=touch", want: refusedURL, reason: "'-'"},
		{url: "ssh://-oProxyCommand=touch@github.com/a", want: refusedURL, reason: "'-'"},
		{url: "git@-oProxyCommand=x:a", want: refusedURL, reason: "malformed scp-style"},
		{url: "relative/path.git", allowFile: true, want: refusedURL, reason: "relative paths"},
		{url: "https://github.com", want: refusedURL, reason: "no repository path"},
		{url: "https://github.com/a b", want: refusedURL, reason: "whitespace"},
		{url: " https://github.com/a/b", want: refusedURL, reason: "whitespace"},
		{url: "https://github.com/a/b\n", want: refusedURL, reason: "whitespace"},
		{url: "https://github.com/a\x00b", want: refusedURL, reason: "control"},
		{url: "https://github.com/a\u0085b", want: refusedURL, reason: "control"},
		{url: "https://github.com/a\u00a0b", want: refusedURL, reason: "whitespace"},
		{url: "https://github.com/\xff", want: refusedURL, reason: "UTF-8"},
		{url: "https://github.com/" + strings.Repeat("a", MaxURLLen), want: refusedURL, reason: "at most 2048"},
		{url: "https://bücher.example/a", want: refusedURL, reason: "invalid host"},

		// Credentials.
		{url: "https://user:token@github.com/a/b", want: refusedURL, reason: "credentials"},
		{url: "https://ghp_token@github.com/a/b", want: refusedURL, reason: "credentials"},
		{url: "ssh://git:secret@github.com/a/b", want: refusedURL, reason: "credentials"},

		// Local repositories.
		{url: "file:///srv/repo.git", want: refusedURL, reason: "file:// urls are not allowed"},
		{url: "file:///srv/repo.git", allowFile: true, want: ok},
		{url: "file://localhost/srv/repo.git", allowFile: true, want: ok},
		{url: "file://otherhost/srv/repo.git", allowFile: true, want: refusedURL, reason: "with a host"},
		{url: "/srv/repo.git", want: refusedURL, reason: "local paths"},
		{url: "/srv/repo.git", allowFile: true, want: ok},

		// Private hosts by address.
		{url: "https://127.0.0.1/a/b", want: refusedURL, reason: "loopback"},
		{url: "https://127.0.0.1./a/b", want: refusedURL, reason: "loopback"},
		{url: "https://[::1]/a/b", want: refusedURL, reason: "loopback"},
		{url: "https://[::ffff:127.0.0.1]/a/b", want: refusedURL, reason: "loopback"},
		{url: "https://[::ffff:7f00:1]/a/b", want: refusedURL, reason: "loopback"},
		{url: "https://10.0.0.8/a/b", want: refusedURL, reason: "private"},
		{url: "https://172.16.5.4/a/b", want: refusedURL, reason: "private"},
		{url: "https://172.31.255.255/a/b", want: refusedURL, reason: "private"},
		{url: "https://172.32.0.1/a/b", want: ok},
		{url: "https://192.168.1.1/a/b", want: refusedURL, reason: "private"},
		{url: "https://169.254.169.254/latest/meta-data", want: refusedURL, reason: "host is a metadata address"},
		{url: "https://169.254.1.1/a/b", want: refusedURL, reason: "link-local"},
		{url: "https://[fe80::1]/a/b", want: refusedURL, reason: "link-local"},
		{url: "https://[fe80::1%25eth0]/a/b", want: refusedURL, reason: "invalid host"},
		{url: "https://[fd12:3456::1]/a/b", want: refusedURL, reason: "private"},
		{url: "https://[fc00::1]/a/b", want: refusedURL, reason: "private"},
		{url: "https://0.0.0.0/a/b", want: refusedURL, reason: "unspecified"},
		{url: "https://[::]/a/b", want: refusedURL, reason: "unspecified"},
		{url: "https://100.64.0.1/a/b", want: refusedURL, reason: "CGNAT"},
		{url: "https://100.127.255.254/a/b", want: refusedURL, reason: "CGNAT"},
		{url: "https://224.0.0.1/a/b", want: refusedURL, reason: "multicast"},
		{url: "https://[ff02::1]/a/b", want: refusedURL, reason: "multicast"},
		{url: "https://255.255.255.255/a/b", want: refusedURL, reason: "broadcast"},
		{url: "https://240.0.0.1/a/b", want: refusedURL, reason: "reserved"},
		{url: "https://192.0.2.1/a/b", want: refusedURL, reason: "reserved (documentation)"},
		{url: "https://[2001:db8::1]/a/b", want: refusedURL, reason: "reserved (documentation)"},
		{url: "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a/b", want: refusedURL, reason: "Teredo"},
		{url: "https://[64:ff9b::a00:1]/a/b", want: refusedURL, reason: "host is a private address (embedded IPv4); only public hosts are allowed"},
		{url: "https://[2002:c0a8:101::1]/a/b", want: refusedURL, reason: "private address (embedded IPv4)"},
		{url: "https://[::127.0.0.1]/a/b", want: refusedURL, reason: "IPv4-compatible"},
		{url: "git@127.0.0.1:a/b.git", want: refusedURL, reason: "loopback"},
		{url: "git@[::1]:a/b.git", want: refusedURL, reason: "loopback"},
		{url: "ssh://git@10.0.0.1:2222/a/b", want: refusedURL, reason: "private"},

		// Private hosts by name.
		{url: "https://localhost/a/b", want: refusedURL, reason: "localhost"},
		{url: "https://LOCALHOST./a/b", want: refusedURL, reason: "localhost"},
		{url: "https://git.localhost/a/b", want: refusedURL, reason: "localhost"},
		{url: "git@localhost:a/b.git", want: refusedURL, reason: "localhost"},
		{url: "https://2130706433/a/b", want: refusedURL, reason: "non-standard form"},
		{url: "https://0x7f000001/a/b", want: refusedURL, reason: "non-standard form"},
		{url: "https://127.1/a/b", want: refusedURL, reason: "non-standard form"},
		{url: "https://0177.0.0.1/a/b", want: refusedURL, reason: "non-standard form"},
		{url: "https://intranet.example/a/b", want: refusedURL, reason: "resolves to a private address"},
		{url: "https://mixed.example/a/b", want: refusedURL, reason: "resolves to a private address"},
		{url: "https://v6private.example/a/b", want: refusedURL, reason: "resolves to a private address"},
		{url: "https://mapped.example/a/b", want: refusedURL, reason: "resolves to a loopback address"},
		{url: "https://metadata.example/a/b", want: refusedURL, reason: "resolves to a metadata address"},
		{url: "https://cgnat.example/a/b", want: refusedURL, reason: "CGNAT"},
		{url: "https://nat64-private.test/a/b", want: refusedURL, reason: "embedded IPv4"},
		{url: "https://sixtofour-local.net/a/b", want: refusedURL, reason: "embedded IPv4"},
		{url: "git@intranet.example:a/b.git", want: refusedURL, reason: "private"},
		{url: "https://nonexistent.example/a/b", want: refusedURL, reason: "does not resolve"},
		{url: "https://empty.example/a/b", want: refusedURL, reason: "does not resolve"},
		{url: "https://servfail.example/a/b", want: unavailable},
		{url: "https://slow.example/a/b", want: unavailable},

		// allow_private_hosts lifts the network rule, and only it.
		{url: "https://127.0.0.1/a/b", allowPrivate: true, want: ok},
		{url: "https://localhost/a/b", allowPrivate: true, want: ok},
		{url: "https://intranet.example/a/b", allowPrivate: true, want: ok},
		{url: "https://nonexistent.example/a/b", allowPrivate: true, want: ok},
		{url: "git@10.0.0.1:a/b.git", allowPrivate: true, want: ok},
		{url: "https://[64:ff9b::a00:1]/a/b", allowPrivate: true, want: ok},
		// … but not to metadata services nor to what is not one host. A
		// name is not looked up here: Resolve checks it before the clone.
		{url: "https://169.254.169.254/a/b", allowPrivate: true, want: refusedURL,
			reason: "host is a metadata address; such hosts are refused even where private hosts are allowed"},
		{url: "https://[fd00:ec2::254]/a/b", allowPrivate: true, want: refusedURL, reason: "metadata"},
		{url: "https://[64:ff9b::a9fe:a9fe]/a/b", allowPrivate: true, want: refusedURL, reason: "metadata address (embedded IPv4)"},
		{url: "https://0.0.0.0/a/b", allowPrivate: true, want: refusedURL, reason: "unspecified"},
		{url: "https://224.0.0.1/a/b", allowPrivate: true, want: refusedURL, reason: "multicast"},
		{url: "https://255.255.255.255/a/b", allowPrivate: true, want: refusedURL, reason: "broadcast"},
		{url: "https://metadata.example/a/b", allowPrivate: true, want: ok},
		{url: "http://127.0.0.1/a/b", allowPrivate: true, want: refusedURL, reason: "not allowed"},
		{url: "https://u:p@127.0.0.1/a/b", allowPrivate: true, want: refusedURL, reason: "credentials"},
		{url: "file:///srv/repo.git", allowPrivate: true, want: refusedURL, reason: "file://"},

		// Only git transports, in every mode: "scheme:text" is not an scp
		// address, whatever the network rule.
		{url: "javascript:alert(1)", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "javascript" is not allowed`},
		{url: "JAVASCRIPT:alert(1)", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "javascript" is not allowed`},
		{url: "javascript:alert(1)", want: refusedURL, reason: `scheme "javascript" is not allowed`},
		{url: "vbscript:msgbox(1)", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "vbscript" is not allowed`},
		{url: "data:text/html,<script>alert(1)</script>", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "data" is not allowed`},
		{url: "javascript://github.com/%0aalert(1)", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "javascript" is not allowed`},
		{url: "file:/srv/repo.git", allowFile: true, allowPrivate: true, want: refusedURL, reason: `scheme "file" is not allowed`},
		{url: "alias:team/app.git", allowFile: true, allowPrivate: true, want: refusedURL, reason: "user@host:path"},
		{url: "git@alias:team/app.git", allowPrivate: true, want: ok},
		{url: "localhost:team/app.git", allowPrivate: true, want: ok},
		{url: "10.0.0.1:team/app.git", allowPrivate: true, want: ok},
	}
	for _, tt := range tests {
		name := tt.url
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			p := &URLPolicy{AllowFile: tt.allowFile, AllowPrivate: tt.allowPrivate,
				Resolver: testResolver(), LookupTimeout: 50 * time.Millisecond}
			err := p.Check(context.Background(), tt.url)
			switch tt.want {
			case ok:
				require.NoError(t, err)
			case refusedURL:
				require.ErrorIs(t, err, ErrURLRefused)
				var ue *URLError
				require.ErrorAs(t, err, &ue)
				require.Contains(t, ue.Reason, tt.reason)
				if strings.Contains(tt.url, "@") {
					require.NotContains(t, ue.Reason, "token", "the reason never repeats the url")
					require.NotContains(t, ue.Reason, "secret")
				}
			case unavailable:
				require.ErrorIs(t, err, derrors.ErrUnavailable)
				require.NotErrorIs(t, err, ErrURLRefused)
			}
		})
	}
}

// TestURLPolicyResolvesOnlyWhenNeeded: IP literals, local URLs and an
// allowed private network never cost a lookup.
func TestURLPolicyResolvesOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		lookups      int64
	}{
		{"https://93.184.216.34/a/b", false, 0},
		{"https://127.0.0.1/a/b", false, 0},
		{"https://localhost/a/b", false, 0},
		{"/srv/repo.git", false, 0},
		{"https://github.com/a/b", true, 0},
		{"https://github.com/a/b", false, 1},
		{"git@github.com:a/b.git", false, 1},
	} {
		r := testResolver()
		p := &URLPolicy{AllowFile: true, AllowPrivate: tc.allowPrivate, Resolver: r}
		require.NoError(t, ignoreRefusal(p.Check(context.Background(), tc.url)), tc.url)
		require.Equal(t, tc.lookups, r.calls.Load(), tc.url)
	}
}

// TestURLPolicyResolve checks the clone-time check returns the addresses
// it checked, after one lookup, even where private hosts are allowed.
func TestURLPolicyResolve(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		want         []netip.Addr
		lookups      int64
		refused      bool
	}{
		{"https://github.com/a/b", false, addrs("140.82.121.4", "2606:50c0:8000::154"), 1, false},
		{"git@github.com:a/b.git", false, addrs("140.82.121.4", "2606:50c0:8000::154"), 1, false},
		{"ssh://git@git.example.org.:2222/a/b.git", false, addrs("93.184.216.34"), 1, false},
		{"https://93.184.216.34/a/b", false, addrs("93.184.216.34"), 0, false},
		{"https://[2606:50c0:8000::154]/a/b", false, addrs("2606:50c0:8000::154"), 0, false},
		{"/srv/repo.git", false, nil, 0, false},
		{"https://intranet.example/a/b", false, nil, 1, true},
		{"https://mixed.example/a/b", false, nil, 1, true},
		{"https://10.0.0.1/a/b", false, nil, 0, true},
		{"https://localhost/a/b", false, nil, 0, true},
		{"https://intranet.example/a/b", true, addrs("10.1.2.3"), 1, false},
		{"https://10.0.0.1/a/b", true, addrs("10.0.0.1"), 0, false},
		{"https://metadata.example/a/b", true, nil, 1, true},
		{"https://169.254.169.254/a/b", true, nil, 0, true},
		{"https://nowhere.example/a/b", true, nil, 1, true},
	} {
		r := testResolver()
		p := &URLPolicy{AllowFile: true, AllowPrivate: tc.allowPrivate, Resolver: r}
		got, err := p.Resolve(context.Background(), tc.url)
		if tc.refused {
			require.ErrorIs(t, err, ErrURLRefused, tc.url)
		} else {
			require.NoError(t, err, tc.url)
		}
		require.Equal(t, tc.want, got, tc.url)
		require.Equal(t, tc.lookups, r.calls.Load(), tc.url)
	}
}

// rebinder answers a first lookup with one address and every later one
// with another, as a hostile name server rebinding a name does.
type rebinder struct {
	first, then netip.Addr
	calls       atomic.Int64
}

func (r *rebinder) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{r.first}, nil
	}
	return []netip.Addr{r.then}, nil
}

// TestURLPolicyResolveRebinding checks Resolve returns what its one lookup
// checked, not what the name resolves to later: the clone is pinned to a
// public address although the name now points inside.
func TestURLPolicyResolveRebinding(t *testing.T) {
	r := &rebinder{first: netip.MustParseAddr("93.184.216.34"), then: netip.MustParseAddr("10.0.0.7")}
	p := &URLPolicy{Resolver: r}
	got, err := p.Resolve(context.Background(), "https://rebind.example/a/b")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{r.first}, got)
	require.Equal(t, int64(1), r.calls.Load())
	_, err = p.Resolve(context.Background(), "https://rebind.example/a/b")
	require.ErrorIs(t, err, ErrURLRefused, "the second answer is private")
}

func ignoreRefusal(err error) error {
	if errors.Is(err, ErrURLRefused) {
		return nil
	}
	return err
}

// TestURLPolicyLookupIsBounded: a name server that never answers costs the
// lookup timeout, not the caller's whole deadline, and a caller that gives
// up is told so rather than blamed on DNS.
func TestURLPolicyLookupIsBounded(t *testing.T) {
	p := &URLPolicy{Resolver: testResolver(), LookupTimeout: 100 * time.Millisecond}
	start := time.Now()
	err := p.Check(context.Background(), "https://slow.example/a/b")
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.Less(t, time.Since(start), 2*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Check(ctx, "https://slow.example/a/b")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, derrors.ErrUnavailable)
}

// TestURLPolicyDefaultResolver runs the real resolver on names that never
// leave the machine: localhost is refused before any lookup, and an IP
// literal needs none.
func TestURLPolicyDefaultResolver(t *testing.T) {
	p := &URLPolicy{}
	require.ErrorIs(t, p.Check(context.Background(), "https://localhost/a/b"), ErrURLRefused)
	require.NoError(t, p.Check(context.Background(), "https://93.184.216.34/a/b"))
}

func TestNameFromURL(t *testing.T) {
	p := &URLPolicy{AllowFile: true}
	for raw, want := range map[string]string{
		"https://github.com/slipwayhq/slipway.git": "slipway",
		"https://github.com/slipwayhq/slipway":     "slipway",
		"https://github.com/slipwayhq/slipway/":    "slipway",
		"https://host/a/my%20repo.git":             "my repo",
		"ssh://git@host:2222/team/app.git":         "app",
		"git@github.com:org/tool.git":              "tool",
		"git@github.com:tool.git":                  "tool",
		"file:///srv/git/local.git":                "local",
		"/srv/git/plain":                           "plain",
		"https://host/.git":                        "",
	} {
		r, err := p.parse(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, nameFromURL(r), raw)
	}
}
