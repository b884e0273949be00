// Package ids makes the opaque, prefixed, time-ordered identifiers of the API
// ("prj_01j…"): a type prefix and a lower-case ULID, so ids sort by creation
// and a mistyped kind of id is obvious at a glance.
//
// Each domain module declares the prefix of the ids it owns as a typed
// constant in its own package (const IDPrefix ids.Prefix = "prj"); this
// package knows none of them. A test in app/ checks that no two modules
// declare the same prefix.
package ids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefix is the kind part of an id: a few lower-case letters, declared once,
// as a constant, by the module that owns the kind.
type Prefix string

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh id of the given kind.
func New(prefix Prefix) string {
	mu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	return string(prefix) + "_" + strings.ToLower(id.String())
}

// Valid reports whether s looks like an id of the given kind; handlers use it
// to answer 404 for junk without touching storage.
func Valid(prefix Prefix, s string) bool {
	p, ok := Split(s)
	return ok && p == prefix
}

// Split returns the prefix of s when s is a well-formed id of any kind. A
// module checks an id another module owns with it (say a filter by project),
// since it does not know, and must not import, that module's prefix.
func Split(s string) (Prefix, bool) {
	p, u, found := strings.Cut(s, "_")
	if !found || !validPrefix(p) || len(u) != 26 {
		return "", false
	}
	if _, err := ulid.ParseStrict(strings.ToUpper(u)); err != nil {
		return "", false
	}
	return Prefix(p), true
}

// validPrefix reports whether p can be a Prefix: 2 to 8 lower-case ASCII
// letters, so a prefix never contains the separator.
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 8 {
		return false
	}
	for _, c := range []byte(p) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Check reports whether p is a usable prefix; the app's test of module
// prefixes calls it on each one.
func (p Prefix) Check() bool { return validPrefix(string(p)) }
