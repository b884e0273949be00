package ipclass

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkTests are addresses and what Check says of them; every range of
// the table has one (TestEveryRangeIsTested).
var checkTests = []struct {
	addr string
	// the reason with private addresses refused, and with them allowed
	strict, lenient string
}{
	// Public.
	{"93.184.215.14", "", ""},
	{"140.82.121.4", "", ""},
	{"172.32.0.1", "", ""},
	{"100.128.0.1", "", ""},
	{"192.0.1.255", "", ""},
	{"198.20.0.1", "", ""},
	{"223.255.255.255", "", ""},
	{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "", ""},
	{"2606:50c0:8000::154", "", ""},
	{"2001:200::1", "", ""}, // just past 2001::/23
	{"::ffff:93.184.215.14", "", ""},
	{"64:ff9b::5db8:d70e", "", ""},               // NAT64 of 93.184.215.14
	{"2002:5db8:d70e::1", "", ""},                // 6to4 of 93.184.215.14
	{"fe80::1%eth0", "a link-local address", ""}, // the zone is ignored

	// Refused unless private addresses are allowed: IPv4.
	{"10.1.2.3", "a private address", ""},
	{"172.16.0.1", "a private address", ""},
	{"172.17.0.1", "a private address", ""}, // docker0
	{"172.31.255.255", "a private address", ""},
	{"192.168.1.1", "a private address", ""},
	{"100.64.0.1", "a shared (CGNAT) address", ""},
	{"100.127.255.254", "a shared (CGNAT) address", ""},
	{"127.0.0.1", "a loopback address", ""},
	{"127.255.0.9", "a loopback address", ""},
	{"169.254.1.1", "a link-local address", ""},
	{"169.254.169.253", "a link-local address", ""},
	{"192.0.0.8", "a reserved address", ""},
	{"192.0.0.170", "a reserved address", ""}, // NAT64 discovery
	{"192.0.2.1", "a reserved (documentation) address", ""},
	{"198.51.100.7", "a reserved (documentation) address", ""},
	{"203.0.113.200", "a reserved (documentation) address", ""},
	{"192.88.99.1", "a reserved (6to4 relay anycast) address", ""},
	{"198.18.0.1", "a reserved (benchmarking) address", ""},
	{"198.19.255.255", "a reserved (benchmarking) address", ""},
	{"240.0.0.1", "a reserved address", ""},
	{"255.255.255.254", "a reserved address", ""},

	// Refused unless private addresses are allowed: IPv6.
	{"::1", "a loopback address", ""},
	{"fd12:3456::1", "a private address", ""},
	{"fc00::1", "a private address", ""},
	{"fe80::1", "a link-local address", ""},
	{"fec0::1", "a site-local address", ""},
	{"64:ff9b:1::a00:1", "a private (local NAT64) address", ""},
	{"100::1", "a reserved (discard) address", ""},
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "a reserved (Teredo) address", ""}, // client 192.0.2.45
	{"2001:2::1", "a reserved (benchmarking) address", ""},
	{"2001:1::1", "a reserved address", ""},
	{"2001:db8::1", "a reserved (documentation) address", ""},
	{"3fff::1", "a reserved (documentation) address", ""},
	{"5f00::1", "a reserved (SRv6) address", ""},
	{"4000::1", "a reserved address", ""},
	{"::2:0:0:1", "a reserved address", ""}, // ::/8, neither compatible nor translated

	// IPv4 in IPv6.
	{"::ffff:127.0.0.1", "a loopback address", ""}, // IPv4-mapped
	{"::ffff:10.0.0.1", "a private address", ""},   // IPv4-mapped
	{"::127.0.0.1", "a reserved (IPv4-compatible) address", ""},
	{"::ffff:0:7f00:1", "a reserved (IPv4-translated) address", ""},
	{"64:ff9b::a00:1", "a private address (embedded in 64:ff9b::a00:1)", ""}, // NAT64 of 10.0.0.1
	{"64:ff9b::7f00:1", "a loopback address (embedded in 64:ff9b::7f00:1)", ""},
	{"2002:7f00:1::", "a loopback address (embedded in 2002:7f00:1::)", ""},      // 6to4 of 127.0.0.1
	{"2002:c0a8:101::1", "a private address (embedded in 2002:c0a8:101::1)", ""}, // 6to4 of 192.168.1.1

	// Refused always.
	{"169.254.169.254", "a metadata address", "a metadata address"},
	{"169.254.170.2", "a metadata address", "a metadata address"},
	{"169.254.170.23", "a metadata address", "a metadata address"},
	{"100.100.100.200", "a metadata address", "a metadata address"},
	{"168.63.129.16", "a metadata address", "a metadata address"},
	{"fd00:ec2::254", "a metadata address", "a metadata address"},
	{"fd00:ec2::23", "a metadata address", "a metadata address"},
	{"fd20:ce::254", "a metadata address", "a metadata address"},
	{"0.0.0.0", "an unspecified address", "an unspecified address"},
	{"0.1.2.3", "an unspecified address", "an unspecified address"},
	{"::", "an unspecified address", "an unspecified address"},
	{"224.0.0.1", "a multicast address", "a multicast address"},
	{"239.255.255.250", "a multicast address", "a multicast address"},
	{"ff02::1", "a multicast address", "a multicast address"},
	{"ff05::1:3", "a multicast address", "a multicast address"},
	{"255.255.255.255", "a broadcast address", "a broadcast address"},
	{"::ffff:169.254.169.254", "a metadata address", "a metadata address"},
	{"::ffff:0.0.0.0", "an unspecified address", "an unspecified address"},
	{"64:ff9b::a9fe:a9fe", "a metadata address (embedded in 64:ff9b::a9fe:a9fe)", "a metadata address (embedded in 64:ff9b::a9fe:a9fe)"},
	{"2002:a9fe:a9fe::", "a metadata address (embedded in 2002:a9fe:a9fe::)", "a metadata address (embedded in 2002:a9fe:a9fe::)"},
	{"2002:e000:1::", "a multicast address (embedded in 2002:e000:1::)", "a multicast address (embedded in 2002:e000:1::)"},
	// The outer range names a refusal where private addresses are
	// refused; the carried address decides where they are allowed.
	{"::a9fe:a9fe", "a reserved (IPv4-compatible) address", "a metadata address (embedded in ::a9fe:a9fe)"},
	{"::ffff:0:a9fe:a9fe", "a reserved (IPv4-translated) address", "a metadata address (embedded in ::ffff:0:a9fe:a9fe)"},
	{"2001:0:4136:e378:8000:63bf:5601:5601", "a reserved (Teredo) address", "a metadata address (embedded in 2001:0:4136:e378:8000:63bf:5601:5601)"},
}

func TestCheck(t *testing.T) {
	for _, tc := range checkTests {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			strict, lenient := Check(a, false), Check(a, true)
			require.Equal(t, tc.strict, strict.String(), "private addresses refused")
			require.Equal(t, tc.lenient, lenient.String(), "private addresses allowed")
			require.Equal(t, tc.strict != "", strict.Refused())
			require.Equal(t, tc.lenient != "", lenient.Refused())
			require.Equal(t, lenient.Refused(), lenient.Always, "refused where private addresses are allowed means refused always")
			if strict.Always {
				require.True(t, lenient.Refused(), "refused always")
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	for _, allowPrivate := range []bool{false, true} {
		r := Check(netip.Addr{}, allowPrivate)
		require.True(t, r.Refused())
		require.True(t, r.Always)
		require.Equal(t, "an invalid address", r.String())
	}
}

// TestBrief checks the client's reason never names an address.
func TestBrief(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.1":           "a private address",
		"::ffff:10.0.0.1":    "a private address",
		"64:ff9b::a00:1":     "a private address (embedded IPv4)",
		"2002:c0a8:101::1":   "a private address (embedded IPv4)",
		"93.184.215.14":      "",
		"64:ff9b::a9fe:a9fe": "a metadata address (embedded IPv4)",
	} {
		require.Equal(t, want, Check(netip.MustParseAddr(addr), false).Brief(), addr)
	}
}

// TestRangesOrder keeps every range reachable: as the first match decides,
// a range listed after one that contains it would never be used.
func TestRangesOrder(t *testing.T) {
	for i, outer := range ranges {
		for _, inner := range ranges[i+1:] {
			shadowed := outer.prefix.Bits() <= inner.prefix.Bits() && outer.prefix.Contains(inner.prefix.Addr())
			require.False(t, shadowed, "%s is listed after %s, which contains it", inner.prefix, outer.prefix)
		}
		require.Equal(t, outer.prefix, outer.prefix.Masked(), "%s is not a network address", outer.prefix)
		require.False(t, outer.xor && outer.v4At == 0, "%s: xor without a carried address", outer.prefix)
	}
}

// TestEveryRangeIsTested: checkTests holds an address of every range, so
// dropping or reordering a range fails TestCheck, and a range added
// without a test fails here.
func TestEveryRangeIsTested(t *testing.T) {
	tested := map[netip.Prefix]bool{}
	for _, tc := range checkTests {
		if r, ok := find(netip.MustParseAddr(tc.addr).WithZone("").Unmap()); ok {
			tested[r.prefix] = true
		}
	}
	for _, r := range ranges {
		require.True(t, tested[r.prefix], "no address of %s in checkTests", r.prefix)
	}
}
