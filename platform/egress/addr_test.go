package egress_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/egress"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		// the reason with private hosts refused, and with them allowed
		strict, lenient string
	}{
		{"93.184.215.14", "", ""},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "", ""},
		{"127.0.0.1", "a loopback address", ""},
		{"127.255.0.9", "a loopback address", ""},
		{"::1", "a loopback address", ""},
		{"10.1.2.3", "a private address", ""},
		{"172.16.0.1", "a private address", ""},
		{"172.17.0.1", "a private address", ""}, // docker0
		{"172.31.255.255", "a private address", ""},
		{"172.32.0.1", "", ""},
		{"192.168.1.1", "a private address", ""},
		{"fd12:3456::1", "a private address", ""},
		{"169.254.1.1", "a link-local address", ""},
		{"fe80::1", "a link-local address", ""},
		{"100.64.0.1", "a shared (CGNAT) address", ""},
		{"100.127.255.254", "a shared (CGNAT) address", ""},
		{"192.0.2.1", "a reserved (documentation) address", ""},
		{"240.0.0.1", "a reserved address", ""},
		{"::ffff:127.0.0.1", "a loopback address", ""}, // IPv4-mapped
		{"::ffff:10.0.0.1", "a private address", ""},   // IPv4-mapped
		{"::127.0.0.1", "a reserved (IPv4-compatible) address", ""},
		{"64:ff9b::a00:1", "a private address (embedded in 64:ff9b::a00:1)", ""}, // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d70e", "", ""},                                           // NAT64 of a public address
		{"2002:7f00:1::", "a loopback address (embedded in 2002:7f00:1::)", ""},  // 6to4 of 127.0.0.1
		{"2001:0:4136:e378::1", "a reserved (Teredo) address", ""},
		// Refused even when private hosts are allowed.
		{"169.254.169.254", "a metadata address", "a metadata address"},
		{"::ffff:169.254.169.254", "a metadata address", "a metadata address"},
		{"64:ff9b::a9fe:a9fe", "a metadata address (embedded in 64:ff9b::a9fe:a9fe)", "a metadata address (embedded in 64:ff9b::a9fe:a9fe)"},
		{"fd00:ec2::254", "a metadata address", "a metadata address"},
		{"169.254.170.2", "a metadata address", "a metadata address"},
		{"100.100.100.200", "a metadata address", "a metadata address"},
		{"0.0.0.0", "an unspecified address", "an unspecified address"},
		{"0.1.2.3", "an unspecified address", "an unspecified address"},
		{"::", "an unspecified address", "an unspecified address"},
		{"224.0.0.1", "a multicast address", "a multicast address"},
		{"ff02::1", "a multicast address", "a multicast address"},
		{"255.255.255.255", "a broadcast address", "a broadcast address"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			require.Equal(t, tc.strict, egress.CheckAddr(a, false), "private hosts refused")
			require.Equal(t, tc.lenient, egress.CheckAddr(a, true), "private hosts allowed")
		})
	}
	require.Equal(t, "not an address", egress.CheckAddr(netip.Addr{}, true))
}
