// Package clientip finds the address of the client a request came from. Rate
// limits and the access log key on it, so it must be an address the client
// cannot choose: behind trusted proxies, X-Forwarded-For is read from the
// right (the entries our own proxies appended) and the left part, which the
// client wrote, is never believed.
package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// Trusted is the set of proxies whose X-Forwarded-For entries are believed:
// the load balancers in front of Slipway (SLIPWAY_TRUSTED_PROXIES). The zero
// value trusts nobody, so the header is ignored.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted reads a list of addresses ("10.1.2.3", "::1") and CIDR
// ranges ("10.0.0.0/8", "fd00::/8").
func ParseTrusted(list []string) (Trusted, error) {
	var t Trusted
	for _, item := range list {
		item = strings.TrimSpace(item)
		if p, err := netip.ParsePrefix(item); err == nil {
			t.prefixes = append(t.prefixes, normalizePrefix(p))
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return Trusted{}, fmt.Errorf("%q is not an IP address or a CIDR range such as 10.0.0.0/8", item)
		}
		a = a.Unmap()
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 range into its IPv4
// one, so it matches the unmapped addresses Resolve compares.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// Contains reports whether a is one of the trusted proxies.
func (t Trusted) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client's address given the connection's peer and the
// request's X-Forwarded-For header values, in the order they came.
//
// When the peer is not a trusted proxy, the header is the client's own words
// and is ignored: the peer is the client. Otherwise the entries are walked
// from the right, each appended by the hop before it, skipping trusted
// proxies; the first untrusted address is the client. When every entry is
// trusted, the left-most one is. An entry that is not an address stops the
// walk at the last address known to be real: whoever wrote the garbage sits
// behind it, and nothing further left can be believed.
func (t Trusted) Resolve(peer netip.Addr, forwardedFor []string) netip.Addr {
	client := peer.Unmap()
	if !t.Contains(client) {
		return client
	}
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		rest := forwardedFor[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue // empty list elements are allowed and mean nothing
			}
			a, ok := parseHop(entry)
			if !ok {
				return client
			}
			client = a
			if !t.Contains(a) {
				return client
			}
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an IPv4 or IPv6 address, with a
// port or in brackets as some proxies write them. Zones, names, "unknown"
// and RFC 7239 obfuscated identifiers are not addresses.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s) // 192.0.2.1:4711, [2001:db8::1]:4711
		switch {
		case perr == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']': // [2001:db8::1]
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// LimitKey is the key per-address rate limits count a client under: the
// IPv4 address, or the /64 network of an IPv6 address, since one host is
// commonly given a whole /64 and could otherwise use a fresh address for
// every attempt.
func LimitKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
