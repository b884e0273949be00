// Package ipclass decides which IP addresses Slipway may connect to on a
// client's or an agent's behalf: a repository's host (modules/repositories)
// and a destination of the egress proxy (platform/egress) are judged by the
// one table here, after IANA's IPv4 and IPv6 special-purpose registries.
//
// Two classes of addresses are refused. Cloud metadata services (which hand
// out the host's credentials) and addresses that are not one host
// (unspecified, multicast, broadcast) are refused always. Loopback, private,
// link-local, shared (CGNAT), documentation, benchmarking and otherwise
// reserved addresses, which lead to the worker host, its neighbours and the
// provider's internal services, are refused unless private addresses are
// allowed (runs.allow_private_hosts: local development and tests only).
//
// An IPv4-mapped address (::ffff:a.b.c.d) is judged as the IPv4 address it
// is. An address that carries an IPv4 address the network may deliver to
// (NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo's obfuscated client,
// IPv4-compatible and IPv4-translated forms) is judged by its own range and
// then by the IPv4 address it carries.
package ipclass

import "net/netip"

// Reason says why an address may not be reached; the zero Reason means it
// may.
type Reason struct {
	// Range names the refused range with its article: "a private", "a
	// metadata"; "" when the address may be reached.
	Range string
	// Via is the address that carries the refused IPv4 address (NAT64,
	// 6to4, Teredo …); the zero Addr when the address itself was refused.
	Via netip.Addr
	// Always is set when the address is refused even where private
	// addresses are allowed.
	Always bool
}

// Refused reports whether the address may not be reached.
func (r Reason) Refused() bool { return r.Range != "" }

// String is the reason for an operator's log, naming the carrying address:
// "a private address (embedded in 64:ff9b::a00:1)"; "" when not refused.
func (r Reason) String() string {
	switch {
	case r.Range == "":
		return ""
	case r.Via.IsValid():
		return r.Range + " address (embedded in " + r.Via.String() + ")"
	}
	return r.Range + " address"
}

// Brief is the reason without any address, for a client who may have given
// a name that resolved to it: "a private address (embedded IPv4)".
func (r Reason) Brief() string {
	switch {
	case r.Range == "":
		return ""
	case r.Via.IsValid():
		return r.Range + " address (embedded IPv4)"
	}
	return r.Range + " address"
}

// Check returns why addr may not be reached, with private addresses allowed
// or not; the zero Reason when it may. Zones are ignored, and an invalid
// Addr is refused.
func Check(addr netip.Addr, allowPrivate bool) Reason {
	if !addr.IsValid() {
		return Reason{Range: "an invalid", Always: true}
	}
	addr = addr.WithZone("").Unmap()
	r, ok := find(addr)
	if !ok {
		return Reason{}
	}
	if r.name != "" && (r.always || !allowPrivate) {
		return Reason{Range: r.name, Always: r.always}
	}
	if r.v4At == 0 {
		return Reason{}
	}
	b := addr.As16()
	var v4 [4]byte
	copy(v4[:], b[r.v4At:r.v4At+4])
	if r.xor {
		for i := range v4 {
			v4[i] ^= 0xff
		}
	}
	inner := Check(netip.AddrFrom4(v4), allowPrivate)
	if inner.Refused() {
		inner.Via = addr
	}
	return inner
}

// find returns the first range holding addr.
func find(addr netip.Addr) (addrRange, bool) {
	for _, r := range ranges {
		if r.prefix.Contains(addr) {
			return r, true
		}
	}
	return addrRange{}, false
}

// addrRange is a range of addresses and how Check treats it.
type addrRange struct {
	prefix netip.Prefix
	// name is how a refusal names the range, article included; "" for a
	// range reachable save for the IPv4 address it carries.
	name string
	// always refuses the range even where private addresses are allowed.
	always bool
	// v4At is where a carried IPv4 address starts in the 16 bytes of an
	// address of the range; 0 when it carries none.
	v4At int
	// xor marks a carried address stored inverted (Teredo's client).
	xor bool
}

// ranges is searched in order and the first match decides, so a range
// comes before any range containing it (a test keeps it so). IPv6 is
// covered whole: what is neither named here nor global unicast (2000::/3)
// is reserved. IPv4 not listed is public.
var ranges = []addrRange{
	// Metadata services, refused always.
	{prefix: pfx("169.254.169.254/32"), name: "a metadata", always: true}, // AWS, GCP, Azure, OCI, OpenStack, DigitalOcean
	{prefix: pfx("169.254.170.2/32"), name: "a metadata", always: true},   // AWS ECS task metadata and credentials
	{prefix: pfx("169.254.170.23/32"), name: "a metadata", always: true},  // AWS EKS pod identity agent
	{prefix: pfx("100.100.100.200/32"), name: "a metadata", always: true}, // Alibaba Cloud
	{prefix: pfx("168.63.129.16/32"), name: "a metadata", always: true},   // Azure WireServer (a public address, reachable only inside Azure)
	{prefix: pfx("fd00:ec2::254/128"), name: "a metadata", always: true},  // AWS (IPv6)
	{prefix: pfx("fd00:ec2::23/128"), name: "a metadata", always: true},   // AWS EKS pod identity agent (IPv6)
	{prefix: pfx("fd20:ce::254/128"), name: "a metadata", always: true},   // GCP (IPv6)

	// Not one host, refused always.
	{prefix: pfx("0.0.0.0/8"), name: "an unspecified", always: true}, // "this network"; Linux connects 0.0.0.0 to itself
	{prefix: pfx("::/128"), name: "an unspecified", always: true},
	{prefix: pfx("224.0.0.0/4"), name: "a multicast", always: true},
	{prefix: pfx("ff00::/8"), name: "a multicast", always: true},
	{prefix: pfx("255.255.255.255/32"), name: "a broadcast", always: true},

	// IPv4, refused unless private addresses are allowed.
	{prefix: pfx("10.0.0.0/8"), name: "a private"},
	{prefix: pfx("100.64.0.0/10"), name: "a shared (CGNAT)"},
	{prefix: pfx("127.0.0.0/8"), name: "a loopback"},
	{prefix: pfx("169.254.0.0/16"), name: "a link-local"},
	{prefix: pfx("172.16.0.0/12"), name: "a private"},
	{prefix: pfx("192.0.0.0/24"), name: "a reserved"}, // IETF protocol assignments, its two anycast addresses included
	{prefix: pfx("192.0.2.0/24"), name: "a reserved (documentation)"},
	{prefix: pfx("192.88.99.0/24"), name: "a reserved (6to4 relay anycast)"}, // deprecated, RFC 7526
	{prefix: pfx("192.168.0.0/16"), name: "a private"},
	{prefix: pfx("198.18.0.0/15"), name: "a reserved (benchmarking)"},
	{prefix: pfx("198.51.100.0/24"), name: "a reserved (documentation)"},
	{prefix: pfx("203.0.113.0/24"), name: "a reserved (documentation)"},
	{prefix: pfx("240.0.0.0/4"), name: "a reserved"},

	// IPv6, refused unless private addresses are allowed.
	{prefix: pfx("::1/128"), name: "a loopback"},
	{prefix: pfx("::ffff:0:0:0/96"), name: "a reserved (IPv4-translated)", v4At: 12},
	{prefix: pfx("::/96"), name: "a reserved (IPv4-compatible)", v4At: 12},
	{prefix: pfx("64:ff9b::/96"), v4At: 12}, // NAT64, well-known prefix
	// Local-use NAT64 may embed IPv4 at any RFC 6052 offset, so what it
	// carries cannot be read: the whole range is private.
	{prefix: pfx("64:ff9b:1::/48"), name: "a private (local NAT64)"},
	{prefix: pfx("100::/64"), name: "a reserved (discard)"},
	// Teredo relays reach the obfuscated client address: the range is
	// refused, and its client checked where private addresses are allowed.
	{prefix: pfx("2001::/32"), name: "a reserved (Teredo)", v4At: 12, xor: true},
	{prefix: pfx("2001:2::/48"), name: "a reserved (benchmarking)"},
	// IETF protocol assignments, refused whole like 192.0.0.0/24: its few
	// global anycast services (PCP, TURN, AMT, AS112) are no one's
	// repository or API.
	{prefix: pfx("2001::/23"), name: "a reserved"},
	{prefix: pfx("2001:db8::/32"), name: "a reserved (documentation)"},
	{prefix: pfx("2002::/16"), v4At: 2}, // 6to4
	{prefix: pfx("3fff::/20"), name: "a reserved (documentation)"},
	{prefix: pfx("2000::/3")}, // global unicast
	{prefix: pfx("5f00::/16"), name: "a reserved (SRv6)"},
	{prefix: pfx("fc00::/7"), name: "a private"},
	{prefix: pfx("fe80::/10"), name: "a link-local"},
	{prefix: pfx("fec0::/10"), name: "a site-local"},
	{prefix: pfx("::/0"), name: "a reserved"}, // unassigned by IANA
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
