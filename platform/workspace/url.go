package workspace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ErrURLNotAllowed means a repository URL or branch name was refused before
// git ran: an unsupported scheme, file:// without AllowFile, or a value that
// could be read as an option. Clone errors with ReasonRefused wrap it.
var ErrURLNotAllowed = errors.New("repository url not allowed")

var (
	// schemeRE matches "<scheme>://", the form git parses as a URL.
	schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
	// helperRE matches "<transport>::<address>", which makes git run the
	// remote helper git-remote-<transport>.
	helperRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+.-]*::`)
	// scpRE matches scp-style ssh addresses: [user@]host:path.
	scpRE    = regexp.MustCompile(`^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):(.+)$`)
	hostRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
	userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@`)
)

// Resolver looks host names up; *net.Resolver is one. The URL policy takes
// it from fx when one is provided, so tests can play a hostile name server.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Remote is a repository URL that git may clone, split into the parts a
// caller's policy looks at. ParseURL is the one parser of repository URLs:
// the repositories module stores what it accepts and Prepare clones it.
type Remote struct {
	// Transport is "https", "ssh" (ssh:// URLs and scp-style addresses) or
	// "file" (file:// URLs and absolute local paths).
	Transport string
	// Host is the host name or IP address, without brackets; "" for file.
	Host string
	// Port is the port of an https:// or ssh:// URL, as written; "" for
	// the transport's default.
	Port string
	// Path is the repository path on the host, or the local path.
	Path string
	// User is the user name of an ssh:// URL or scp-style address.
	User string
	// Userinfo reports whether an https:// or ssh:// URL carries user
	// information, and Password whether that includes a password.
	Userinfo, Password bool
}

// CheckURL reports whether git may clone rawURL: https:// and ssh:// URLs and
// scp-style ssh addresses (user@host:path) always, file:// URLs and absolute
// local paths only when allowFile is true. Everything else — plain http, git://,
// remote helpers ("ext::…"), relative paths, values starting with "-" or holding
// control characters, "scheme:text" such as javascript:alert(1) that only
// looks like an scp-style address — is refused with an error wrapping
// ErrURLNotAllowed. Whether the host may be reached (private ranges) is the
// caller's policy.
func CheckURL(rawURL string, allowFile bool) error {
	_, err := ParseURL(rawURL, allowFile)
	return err
}

// checkURL validates rawURL and returns the transport it will use.
func checkURL(rawURL string, allowFile bool) (string, error) {
	r, err := ParseURL(rawURL, allowFile)
	return r.Transport, err
}

// ParseURL checks rawURL as CheckURL does and splits it into its parts.
func ParseURL(rawURL string, allowFile bool) (Remote, error) {
	refuse := func(format string, args ...any) (Remote, error) {
		return Remote{}, fmt.Errorf("%w: %s", ErrURLNotAllowed, fmt.Sprintf(format, args...))
	}
	switch {
	case rawURL == "":
		return refuse("empty url")
	case strings.ContainsFunc(rawURL, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return refuse("control character in url")
	case strings.TrimSpace(rawURL) != rawURL:
		return refuse("leading or trailing space in url")
	case strings.HasPrefix(rawURL, "-"):
		return refuse("url starts with '-'")
	}
	if m := schemeRE.FindStringSubmatch(rawURL); m != nil {
		scheme := strings.ToLower(m[1])
		u, err := url.Parse(rawURL)
		if err != nil {
			return refuse("malformed url")
		}
		switch scheme {
		case "https", "ssh":
			if !validHost(u.Hostname()) {
				return refuse("invalid host in %s url", scheme)
			}
			if u.User != nil && strings.HasPrefix(u.User.Username(), "-") {
				return refuse("user name starts with '-'")
			}
			if u.Path == "" || u.Path == "/" {
				return refuse("url has no repository path")
			}
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					return refuse("invalid port in %s url", scheme)
				}
			}
			r := Remote{Transport: scheme, Host: u.Hostname(), Port: u.Port(), Path: u.Path, Userinfo: u.User != nil}
			if u.User != nil {
				r.User = u.User.Username()
				_, r.Password = u.User.Password()
			}
			return r, nil
		case "file":
			if !allowFile {
				return refuse("file:// urls are not allowed here")
			}
			if u.Host != "" && u.Host != "localhost" {
				return refuse("file:// url with a host")
			}
			if u.Path == "" {
				return refuse("file:// url has no path")
			}
			return Remote{Transport: "file", Path: u.Path}, nil
		default:
			return refuse("scheme %q is not allowed (use https:// or ssh)", scheme)
		}
	}
	if helperRE.MatchString(rawURL) {
		return refuse("remote helper urls are not allowed")
	}
	if strings.HasPrefix(rawURL, "/") {
		if !allowFile {
			return refuse("local paths are not allowed here")
		}
		return Remote{Transport: "file", Path: rawURL}, nil
	}
	// git reads "host:path" as ssh when a colon comes before the first slash.
	if colon := strings.IndexByte(rawURL, ':'); colon > 0 && !strings.Contains(rawURL[:colon], "/") {
		m := scpRE.FindStringSubmatch(rawURL)
		if m == nil {
			return refuse("malformed scp-style ssh address")
		}
		user, host, path := m[1], m[2], m[3]
		// "javascript:alert(1)" and "data:text/html,…" have the same shape
		// as "host:path", and a web client showing the URL as a link would
		// run them. Without a user, take it for an address only when the
		// host is plainly one.
		if user == "" && !scpHost(host) {
			return refuse("scheme %q is not allowed (use https://, ssh:// or user@host:path)", strings.ToLower(rawURL[:colon]))
		}
		return Remote{Transport: "ssh", Host: strings.Trim(host, "[]"), Path: path, User: user}, nil
	}
	return refuse("relative paths are not allowed")
}

// scpHost reports whether the host of an scp-style address without a user
// is plainly a host: a dotted name or IPv4 address, a bracketed IPv6
// address, or localhost. No URL scheme a browser runs (javascript, data,
// vbscript) has a dot.
func scpHost(host string) bool {
	return strings.Contains(host, ".") || strings.HasPrefix(host, "[") || strings.EqualFold(host, "localhost")
}

// validHost reports whether host is a DNS name or an IP address that cannot
// be read as an option.
func validHost(host string) bool {
	if strings.Contains(host, ":") {
		return net.ParseIP(host) != nil
	}
	return hostRE.MatchString(host)
}

// RedactURL returns rawURL without the user information of a scheme URL
// ("https://user:token@host/x" → "https://host/x"), safe to log or show. The
// user name of an scp-style address (git@host:x) is kept: that syntax cannot
// carry a password.
func RedactURL(rawURL string) string {
	if schemeRE.MatchString(rawURL) {
		if u, err := url.Parse(rawURL); err == nil {
			u.User = nil
			return u.String()
		}
	}
	return redactText(rawURL)
}

// redactText strips user information from every URL inside free text, such
// as git's error output.
func redactText(s string) string {
	return userinfo.ReplaceAllString(s, "$1")
}
