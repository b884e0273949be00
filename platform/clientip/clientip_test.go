package clientip

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	trusted, err := ParseTrusted([]string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", " ::1 "})
	require.NoError(t, err)
	const lb = "10.0.0.1" // a trusted load balancer, the usual peer
	cases := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no header", lb, nil, lb},
		{"empty header", lb, []string{""}, lb},
		{"one hop", lb, []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged left part is skipped", lb, []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped from the right", lb, []string{"198.51.100.1, 203.0.113.9, 10.2.3.4, 192.0.2.7"}, "203.0.113.9"},
		{"all trusted: the left-most", lb, []string{"10.9.9.9, 10.2.3.4"}, "10.9.9.9"},
		{"spaces and tabs", lb, []string{" 198.51.100.1 ,\t203.0.113.9\t"}, "203.0.113.9"},
		{"empty elements", lb, []string{",203.0.113.9,, "}, "203.0.113.9"},
		{"several headers are one list, in order", lb, []string{"198.51.100.1", "203.0.113.9, 10.2.3.4"}, "203.0.113.9"},
		{"several headers, the last all trusted", lb, []string{"198.51.100.1, 203.0.113.9", "10.2.3.4"}, "203.0.113.9"},
		{"IPv4 with port", lb, []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6", lb, []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 in brackets", lb, []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"IPv6 in brackets with port", lb, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 behind a trusted IPv6 hop", lb, []string{"2001:db8::1, fd00::5"}, "2001:db8::1"},
		{"IPv4-mapped IPv6 is IPv4", lb, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"mapped trusted hop is trusted", lb, []string{"203.0.113.9, ::ffff:10.2.3.4"}, "203.0.113.9"},
		{"garbage right-most: the peer", lb, []string{"203.0.113.9, unknown"}, lb},
		{"garbage after a trusted hop: that hop", lb, []string{"203.0.113.9, nonsense, 10.2.3.4"}, "10.2.3.4"},
		{"garbage left of the client is never read", lb, []string{"<script>, 203.0.113.9"}, "203.0.113.9"},
		{"obfuscated identifier", lb, []string{"_hidden"}, lb},
		{"host name", lb, []string{"evil.example.com"}, lb},
		{"zone", lb, []string{"fe80::1%eth0"}, lb},
		{"bracketed zone with port", lb, []string{"[fe80::1%eth0]:80"}, lb},
		{"bracketed IPv4", lb, []string{"[203.0.113.9]"}, lb},
		{"leading zeros", lb, []string{"203.000.113.9"}, lb},
		{"CIDR is not an address", lb, []string{"203.0.113.0/24"}, lb},
		{"port without address", lb, []string{":80"}, lb},
		{"only commas", lb, []string{",,,"}, lb},
		{"untrusted peer: header ignored", "198.51.100.77", []string{"203.0.113.9"}, "198.51.100.77"},
		{"untrusted peer: even a trusted-looking header", "198.51.100.77", []string{"10.0.0.2"}, "198.51.100.77"},
		{"trusted single address", "192.0.2.7", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted IPv6 peer", "::1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"mapped trusted peer", "::ffff:10.0.0.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"mapped untrusted peer is shown unmapped", "::ffff:198.51.100.77", nil, "198.51.100.77"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := trusted.Resolve(netip.MustParseAddr(tc.peer), tc.xff)
			require.Equal(t, tc.want, got.String())
		})
	}
}

func TestResolveTrustsNobodyByDefault(t *testing.T) {
	var none Trusted
	peer := netip.MustParseAddr("127.0.0.1")
	require.Equal(t, peer, none.Resolve(peer, []string{"203.0.113.9"}))
	empty, err := ParseTrusted(nil)
	require.NoError(t, err)
	require.Equal(t, peer, empty.Resolve(peer, []string{"203.0.113.9"}))
}

func TestParseTrusted(t *testing.T) {
	for _, ok := range []string{"10.0.0.0/8", "10.1.2.3", "::1", "fd00::/8", "10.1.2.3/8", "::ffff:10.0.0.0/104"} {
		_, err := ParseTrusted([]string{ok})
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "lb.internal", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.1:80", "*"} {
		_, err := ParseTrusted([]string{bad})
		require.Error(t, err, bad)
	}
	tr, err := ParseTrusted([]string{"::ffff:10.0.0.0/104", "10.1.2.3/8"})
	require.NoError(t, err)
	require.True(t, tr.Contains(netip.MustParseAddr("10.200.0.1")), "a mapped range matches IPv4 peers")
	require.True(t, tr.Contains(netip.MustParseAddr("::ffff:10.0.0.9")))
	require.False(t, tr.Contains(netip.MustParseAddr("11.0.0.1")))
}

func TestLimitKey(t *testing.T) {
	require.Equal(t, "203.0.113.9", LimitKey(netip.MustParseAddr("203.0.113.9")))
	require.Equal(t, "203.0.113.9", LimitKey(netip.MustParseAddr("::ffff:203.0.113.9")))
	a := LimitKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	require.Equal(t, "2001:db8:1:2::/64", a)
	require.Equal(t, a, LimitKey(netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff")), "one /64 is one client")
	require.NotEqual(t, a, LimitKey(netip.MustParseAddr("2001:db8:1:3::1")))
}

// FuzzResolve: whatever the header, the answer is the peer or an address
// that appears in it, and never panics.
func FuzzResolve(f *testing.F) {
	f.Add("198.51.100.1, 203.0.113.9", "10.0.0.1")
	f.Add("[2001:db8::1]:443,,garbage", "10.0.0.1")
	trusted, _ := ParseTrusted([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff, peer string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got := trusted.Resolve(p, []string{xff})
		if !got.IsValid() {
			t.Fatalf("invalid address for %q from %s", xff, peer)
		}
	})
}
