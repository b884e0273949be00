package workspace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A clone connects only where the caller's URL policy looked. The policy
// resolves the host's name once and checks every address; Prepare then pins
// git to those addresses, so git never resolves the name itself and a name
// server that answers differently the second time (DNS rebinding) is not
// asked again:
//
//   - https: libcurl's resolve list (http.curloptResolve), one entry for
//     the host as the URL writes it and one for the other form of a
//     trailing dot, since libcurl looks the written form up;
//   - ssh: -o HostName=<address> with HostKeyAlias=<host>, so ssh connects
//     to the address but checks the key known for the name. ssh takes one
//     address: the first the policy returned.
//
// Redirects are refused (http.followRedirects=false): a redirect names a
// host the policy never saw, which libcurl would resolve on its own.
//
// A proxy in the environment (HTTPS_PROXY, ALL_PROXY) resolves the host
// itself, so with one the pin does not hold: the proxy's policy decides.

// PrepareOption changes how Prepare clones.
type PrepareOption func(*prepareOptions)

type prepareOptions struct {
	pinned []netip.Addr
}

// Pin gives Prepare the addresses the caller's URL policy resolved the
// URL's host to and checked: git connects to those and no others. A URL
// whose host is a name (not an IP address) cannot be cloned without them.
func Pin(addrs ...netip.Addr) PrepareOption {
	return func(o *prepareOptions) { o.pinned = append(o.pinned, addrs...) }
}

// pin is how one clone connects to its remote.
type pin struct {
	config []string // extra git settings
	env    []string // extra environment
}

// pinFor returns the pin of a clone of r to addrs, or an error wrapping
// ErrURLNotAllowed when r's host is a name and addrs are missing or unfit.
func (m *Manager) pinFor(r Remote, addrs []netip.Addr) (pin, error) {
	refuse := func(format string, args ...any) (pin, error) {
		return pin{}, fmt.Errorf("%w: %s", ErrURLNotAllowed, fmt.Sprintf(format, args...))
	}
	if r.Transport != "https" && r.Transport != "ssh" {
		return pin{}, nil
	}
	if _, err := netip.ParseAddr(r.Host); err == nil {
		return pin{}, nil // nothing to resolve
	}
	if len(addrs) == 0 {
		return refuse("the host name has no checked addresses to connect to")
	}
	list := make([]string, len(addrs))
	for i, a := range addrs {
		if !a.IsValid() || a.Zone() != "" {
			return refuse("a checked address of the host is not usable")
		}
		a = a.Unmap()
		list[i] = a.String()
		if a.Is6() {
			list[i] = "[" + list[i] + "]"
		}
	}
	if r.Transport == "ssh" {
		// The host passed ParseURL's host check: letters, digits, dots
		// and hyphens, nothing a shell reads.
		alias := strings.TrimSuffix(r.Host, ".")
		cmd := fmt.Sprintf("%s -o HostName=%s -o HostKeyAlias=%s", m.cfg.SSHCommand, addrs[0].Unmap(), alias)
		return pin{env: []string{"GIT_SSH_COMMAND=" + cmd}}, nil
	}
	port := 443
	if r.Port != "" {
		var err error
		if port, err = strconv.Atoi(r.Port); err != nil {
			return refuse("invalid port")
		}
	}
	other := r.Host + "."
	if strings.HasSuffix(r.Host, ".") {
		other = strings.TrimSuffix(r.Host, ".")
	}
	var p pin
	for _, host := range []string{r.Host, other} {
		p.config = append(p.config, fmt.Sprintf("http.curloptResolve=%s:%d:%s", host, port, strings.Join(list, ",")))
	}
	return p, nil
}
