package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Target is where a client asked the proxy to connect: a host name or an IP
// address, and a port.
type Target struct {
	// Name is the host name, lower case and without a trailing dot; empty
	// when the target is an IP address.
	Name string
	// Addr is the IP address of an address target.
	Addr netip.Addr
	Port uint16
}

// String is host:port, with an IPv6 address in brackets.
func (t Target) String() string {
	host := t.Name
	if host == "" {
		host = t.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(t.Port)))
}

// Rule is one allowlist entry.
type Rule struct {
	// Name is an exact host name, or with Wildcard the domain whose
	// subdomains match; empty for an address rule.
	Name     string
	Wildcard bool
	// Addr is the address of an address rule.
	Addr netip.Addr
	Port uint16
}

// String is the rule as written in the settings, normalised.
func (r Rule) String() string {
	host := r.Name
	switch {
	case r.Wildcard:
		host = "*." + r.Name
	case host == "":
		host = r.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(r.Port)))
}

// Matches reports whether the rule admits t.
func (r Rule) Matches(t Target) bool {
	switch {
	case r.Port != t.Port:
		return false
	case r.Name == "":
		return t.Name == "" && r.Addr == t.Addr
	case t.Name == "":
		return false // a name never admits an address, nor the reverse
	case r.Wildcard:
		return strings.HasSuffix(t.Name, "."+r.Name)
	}
	return r.Name == t.Name
}

// Allowlist is the set of destinations the proxy may connect to.
//
// Each entry is HOST:PORT; the port is required (1–65535). HOST is one of:
//
//   - a host name, matched exactly, without regard to case or a trailing
//     dot: "api.openai.com:443" admits api.openai.com on port 443 only;
//   - "*." and a domain: any name at least one label below the domain, but
//     not the domain itself: "*.example.com:443" admits a.example.com and
//     a.b.example.com, not example.com nor badexample.com;
//   - an IPv4 address, or an IPv6 address in brackets ("[2001:db8::1]:443"),
//     which admits a request for that address, never for a name that
//     resolves to it.
//
// No other wildcard exists ("*", "api.*.com", "*example.com" are refused),
// nor a port range. An admitted name's addresses still pass ipclass.Check.
type Allowlist struct {
	rules []Rule
}

// ParseAllowlist parses the entries; the error names the first bad one.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, e := range entries {
		r, err := ParseRule(e)
		if err != nil {
			return nil, err
		}
		a.rules = append(a.rules, r)
	}
	return a, nil
}

// Rules returns the entries, normalised.
func (a *Allowlist) Rules() []Rule { return append([]Rule(nil), a.rules...) }

// Strings returns the entries as ParseAllowlist reads them.
func (a *Allowlist) Strings() []string {
	out := make([]string, len(a.rules))
	for i, r := range a.rules {
		out[i] = r.String()
	}
	return out
}

// Allows reports whether some rule admits t.
func (a *Allowlist) Allows(t Target) bool {
	for _, r := range a.rules {
		if r.Matches(t) {
			return true
		}
	}
	return false
}

// ParseRule parses one allowlist entry.
func ParseRule(entry string) (Rule, error) {
	host, port, err := splitHostPort(entry)
	if err != nil {
		return Rule{}, fmt.Errorf("allowlist entry %q: %w", entry, err)
	}
	if a, ok := parseAddr(host); ok {
		return Rule{Addr: a, Port: port}, nil
	}
	wildcard := false
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		wildcard, host = true, rest
	}
	name, err := normalizeName(host)
	if err != nil {
		return Rule{}, fmt.Errorf("allowlist entry %q: %w", entry, err)
	}
	if wildcard && !strings.Contains(name, ".") {
		return Rule{}, fmt.Errorf("allowlist entry %q: a wildcard needs a domain of at least two labels", entry)
	}
	return Rule{Name: name, Wildcard: wildcard, Port: port}, nil
}

// ParseTarget parses the authority of a CONNECT request ("host:port").
func ParseTarget(authority string) (Target, error) {
	host, port, err := splitHostPort(authority)
	if err != nil {
		return Target{}, err
	}
	if a, ok := parseAddr(host); ok {
		return Target{Addr: a, Port: port}, nil
	}
	name, err := normalizeName(host)
	if err != nil {
		return Target{}, err
	}
	return Target{Name: name, Port: port}, nil
}

// splitHostPort splits HOST:PORT, requiring a decimal port in 1–65535 and
// brackets exactly around an IPv6 address.
func splitHostPort(s string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, errors.New("not host:port")
	}
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" || p[0] == '0' {
		return "", 0, errors.New("the port must be a number in 1–65535")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, errors.New("the port must be a number in 1–65535")
	}
	if strings.Contains(host, ":") != strings.HasPrefix(s, "[") {
		return "", 0, errors.New("an IPv6 address must be in brackets")
	}
	return host, uint16(n), nil
}

// parseAddr reads an IP address written the standard way (dotted quad
// without leading zeros, or IPv6 without a zone).
func parseAddr(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// normalizeName lower-cases a host name, drops one trailing dot and checks
// it: at most 253 characters, labels of 1–63 letters, digits, '-' or '_'
// that neither start nor end with '-', and a last label that is not a
// number (so that "2130706433" or "0x7f.1", which some resolvers read as
// IPv4 addresses, are never names).
func normalizeName(host string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || len(name) > 253 {
		return "", errors.New("not a host name")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", errors.New("not a host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("not a host name")
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || (strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "") {
		return "", errors.New("not a host name (its last label is a number)")
	}
	return name, nil
}
