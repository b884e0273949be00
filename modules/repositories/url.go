package repositories

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ipclass"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// DefaultLookupTimeout bounds one DNS lookup of a repository host.
const DefaultLookupTimeout = 3 * time.Second

// ErrURLRefused matches every *URLError: a URL the policy does not accept.
var ErrURLRefused = errors.New("repository url refused")

// URLError is a refused URL. Reason is written for the client: it never
// repeats the URL (which may hold credentials) nor a resolved address.
type URLError struct{ Reason string }

func (e *URLError) Error() string { return "repository url refused: " + e.Reason }

// Is makes errors.Is(err, ErrURLRefused) true.
func (e *URLError) Is(target error) bool { return target == ErrURLRefused }

func refused(format string, args ...any) error {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver = workspace.Resolver

// URLPolicy decides which repository URLs may be stored and cloned:
//
//   - https://host/path, ssh://[user@]host[:port]/path and user@host:path
//     (host:path without a user only when the host is dotted, an IP
//     address or localhost, so "javascript:alert(1)" is not an address);
//     file:// URLs and absolute local paths only with AllowFile;
//   - never http://, git://, remote helpers (ext::…), relative paths, a value
//     starting with '-', whitespace or control characters, more than
//     MaxURLLen characters, user information in an https URL or a password
//     in an ssh URL (credentials belong in a credential helper or deploy key,
//     not in a stored URL);
//   - no host that is, or resolves to, an address ipclass.Check refuses:
//     never a metadata, unspecified, multicast or broadcast address, and
//     unless AllowPrivate no loopback, link-local, private, shared (CGNAT)
//     or reserved one, nor "localhost", nor an IPv4 address in a non-dotted
//     form ("2130706433", "0x7f.1") that git's resolver would read as one.
//     Every address a name resolves to must pass, as git may connect to
//     any. With AllowPrivate, Check looks no name up: Resolve does, before
//     the clone.
//
// Syntax is workspace.ParseURL's, so what is stored is what a run can clone.
// A stored URL's host may resolve elsewhere by the time it is cloned: the
// runs module calls Resolve right before cloning and pins the clone to the
// addresses it checked.
type URLPolicy struct {
	AllowFile    bool
	AllowPrivate bool
	// Resolver looks up host names (in Check only when private hosts are
	// refused, in Resolve always); nil is net.DefaultResolver.
	Resolver Resolver
	// LookupTimeout bounds one lookup; 0 is DefaultLookupTimeout.
	LookupTimeout time.Duration
}

// URLPolicyParams are the policy's dependencies. A test may supply a
// workspace.Resolver to play a hostile name server.
type URLPolicyParams struct {
	fx.In
	Settings *settings.Settings
	Resolver workspace.Resolver `optional:"true"`
}

// NewURLPolicy builds the policy of the settings' runs section.
func NewURLPolicy(p URLPolicyParams) *URLPolicy {
	return &URLPolicy{AllowFile: p.Settings.Runs.AllowFileURLs, AllowPrivate: p.Settings.Runs.AllowPrivateHosts,
		Resolver: p.Resolver}
}

// Check reports whether rawURL may be stored and cloned: nil, a *URLError
// (matching ErrURLRefused) naming the reason, or, when the host's name
// servers do not answer, an error matching derrors.ErrUnavailable.
func (p *URLPolicy) Check(ctx context.Context, rawURL string) error {
	r, err := p.parse(rawURL)
	if err != nil {
		return err
	}
	return p.checkHost(ctx, r.host)
}

// remote is what the policy needs of a URL that passed the syntax checks.
type remote struct {
	host string // "" for local repositories
	path string // the repository path on the host (or the local path)
}

// parse checks rawURL without any I/O and splits off its host and path.
func (p *URLPolicy) parse(rawURL string) (remote, error) {
	switch {
	case rawURL == "":
		return remote{}, refused("must not be empty")
	case utf8.RuneCountInString(rawURL) > MaxURLLen:
		return remote{}, refused("must be at most %d characters", MaxURLLen)
	case !utf8.ValidString(rawURL):
		return remote{}, refused("must be valid UTF-8")
	case strings.ContainsFunc(rawURL, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return remote{}, refused("must not contain whitespace or control characters")
	}
	r, err := workspace.ParseURL(rawURL, p.AllowFile)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), workspace.ErrURLNotAllowed.Error()+": ")
		return remote{}, refused("%s", reason)
	}
	if r.Password || (r.Userinfo && r.Transport == "https") {
		return remote{}, refused("must not contain credentials (user information); use a credential helper or a deploy key")
	}
	return remote{host: r.Host, path: r.Path}, nil
}

// Resolve is Check for a clone about to start, and returns the addresses
// it checked: the only ones the clone may connect to. workspace.Prepare pins
// git to them (workspace.Pin), so a name that resolves elsewhere after the
// check (DNS rebinding) is never looked up again. A host name is resolved
// once, even when private hosts are allowed, so that there is something to
// pin; an IP address is its own answer; local URLs have none.
func (p *URLPolicy) Resolve(ctx context.Context, rawURL string) ([]netip.Addr, error) {
	r, err := p.parse(rawURL)
	if err != nil {
		return nil, err
	}
	return p.resolveHost(ctx, r.host, true)
}

// checkHost applies the network rule to host ("" for local URLs).
func (p *URLPolicy) checkHost(ctx context.Context, host string) error {
	_, err := p.resolveHost(ctx, host, false)
	return err
}

// resolveHost applies the network rule to host ("" for local URLs) and
// returns the addresses it checked. With resolve false it looks a name up
// only when private hosts are refused: where they are allowed, a name is
// refused only for resolving to a metadata or non-host address, which
// Resolve checks before the clone.
func (p *URLPolicy) resolveHost(ctx context.Context, host string, resolve bool) ([]netip.Addr, error) {
	if host == "" {
		return nil, nil
	}
	name := strings.TrimSuffix(host, ".")
	if addr, err := netip.ParseAddr(name); err == nil {
		if r := ipclass.Check(addr, p.AllowPrivate); r.Refused() {
			return nil, refused("host is %s; %s", r.Brief(), p.onlyAllowed(r))
		}
		return []netip.Addr{addr}, nil
	}
	if p.AllowPrivate && !resolve {
		return nil, nil
	}
	if !p.AllowPrivate {
		lower := strings.ToLower(name)
		if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
			return nil, refused("host is localhost; only public hosts are allowed")
		}
		labels := strings.Split(lower, ".")
		if numericLabel(labels[len(labels)-1]) {
			return nil, refused("host looks like an IPv4 address in a non-standard form; write addresses as a.b.c.d")
		}
	}
	addrs, err := p.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if r := ipclass.Check(a, p.AllowPrivate); r.Refused() {
			return nil, refused("host name resolves to %s; %s", r.Brief(), p.onlyAllowed(r))
		}
	}
	return addrs, nil
}

// onlyAllowed ends a refusal of an address: what hosts are allowed.
func (p *URLPolicy) onlyAllowed(r ipclass.Reason) string {
	if p.AllowPrivate && r.Always {
		return "such hosts are refused even where private hosts are allowed"
	}
	return "only public hosts are allowed"
}

// lookup resolves name under the policy's timeout. A name that does not
// exist, or has no addresses, is refused; name servers that fail or do not
// answer are an outage, worth a retry.
func (p *URLPolicy) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	var r Resolver = net.DefaultResolver
	if p.Resolver != nil {
		r = p.Resolver
	}
	timeout := p.LookupTimeout
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := r.LookupNetIP(lctx, "ip", name)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(addrs) == 0, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return nil, refused("host name does not resolve")
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("resolve repository host %q: %w", name, ctx.Err())
	case err != nil:
		return nil, derrors.Unavailable("dns", fmt.Errorf("resolve repository host %q: %w", name, err))
	}
	return addrs, nil
}

// numericLabel reports whether a host's last label is a number, decimal or
// hexadecimal: no top-level domain is, but inet_aton (which git's libcurl
// and ssh resolve through) reads "2130706433", "127.1" and "0x7f.0.0.1" as
// IPv4 addresses that net/netip does not parse.
func numericLabel(label string) bool {
	if label == "" {
		return false
	}
	digits := label
	if strings.HasPrefix(label, "0x") {
		digits = label[2:]
		return !strings.ContainsFunc(digits, func(r rune) bool { return !unicode.Is(unicode.ASCII_Hex_Digit, r) })
	}
	return !strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' })
}

// nameFromURL is the default name of a repository: the last segment of its
// path without ".git" ("https://host/org/app.git" → "app").
func nameFromURL(r remote) string {
	path := strings.TrimRight(r.path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, ".git")
}
