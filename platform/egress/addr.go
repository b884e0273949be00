package egress

import "net/netip"

// addrRange is a range of addresses and how a refusal names it.
type addrRange struct {
	prefix netip.Prefix
	kind   string
}

// neverRanges are refused whatever the settings say: cloud metadata
// services (which hand out the host's credentials), and addresses that are
// not one host (unspecified, "this network", multicast, broadcast).
var neverRanges = []addrRange{
	{netip.MustParsePrefix("169.254.169.254/32"), "a metadata"}, // AWS, GCP, Azure, OCI, OpenStack
	{netip.MustParsePrefix("169.254.170.2/32"), "a metadata"},   // AWS ECS task metadata and credentials
	{netip.MustParsePrefix("169.254.170.23/32"), "a metadata"},  // AWS EKS pod identity agent
	{netip.MustParsePrefix("100.100.100.200/32"), "a metadata"}, // Alibaba Cloud
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a metadata"},  // AWS (IPv6)
	{netip.MustParsePrefix("fd00:ec2::23/128"), "a metadata"},   // AWS EKS pod identity agent (IPv6)
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified"},
	{netip.MustParsePrefix("::/128"), "an unspecified"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "a broadcast"},
}

// privateRanges are refused unless private hosts are allowed: loopback,
// private, link-local, shared (CGNAT) and reserved addresses, which lead to
// the worker host, its neighbours and the provider's internal services.
var privateRanges = []addrRange{
	{netip.MustParsePrefix("10.0.0.0/8"), "a private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a reserved (documentation)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a reserved (benchmarking)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a reserved (documentation)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a reserved (documentation)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved"},
	{netip.MustParsePrefix("::1/128"), "a loopback"},
	{netip.MustParsePrefix("::/96"), "a reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a private (local NAT64)"},
	{netip.MustParsePrefix("2001::/32"), "a reserved (Teredo)"},
	{netip.MustParsePrefix("2001:db8::/32"), "a reserved (documentation)"},
	{netip.MustParsePrefix("fc00::/7"), "a private"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local"},
}

// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses lead to the IPv4
// address they carry, so that address is checked too.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// CheckAddr returns why the proxy must not connect to addr, or "" when it
// may. Metadata, unspecified, multicast and broadcast addresses are always
// refused; loopback, private, link-local, CGNAT and reserved ones unless
// allowPrivate. IPv4-mapped IPv6 addresses are checked as the IPv4 address
// they are, and NAT64 and 6to4 ones as the IPv4 address they carry.
func CheckAddr(addr netip.Addr, allowPrivate bool) string {
	if !addr.IsValid() {
		return "not an address"
	}
	addr = addr.WithZone("").Unmap()
	if kind := match(neverRanges, addr); kind != "" {
		return kind + " address"
	}
	if !allowPrivate {
		if kind := match(privateRanges, addr); kind != "" {
			return kind + " address"
		}
	}
	b := addr.As16()
	var v4 [4]byte
	switch {
	case addr.Is4():
		return ""
	case nat64.Contains(addr):
		copy(v4[:], b[12:16])
	case sixToFour.Contains(addr):
		copy(v4[:], b[2:6])
	default:
		return ""
	}
	if reason := CheckAddr(netip.AddrFrom4(v4), allowPrivate); reason != "" {
		return reason + " (embedded in " + addr.String() + ")"
	}
	return ""
}

func match(ranges []addrRange, addr netip.Addr) string {
	for _, r := range ranges {
		if r.prefix.Contains(addr) {
			return r.kind
		}
	}
	return ""
}
