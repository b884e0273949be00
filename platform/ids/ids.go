// Package ids makes the opaque, prefixed, time-ordered identifiers of the API
// ("prj_01j…"): a type prefix and a lower-case ULID, so ids sort by creation
// and a mistyped kind of id is obvious at a glance.
package ids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of each kind of id.
const (
	User       = "usr"
	Project    = "prj"
	Repository = "rep"
	Run        = "run"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh id of the given kind.
func New(prefix string) string {
	mu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	return prefix + "_" + strings.ToLower(id.String())
}

// Valid reports whether s looks like an id of the given kind; handlers use it
// to answer 404 for junk without touching storage.
func Valid(prefix, s string) bool {
	if len(s) != len(prefix)+1+26 || !strings.HasPrefix(s, prefix+"_") {
		return false
	}
	_, err := ulid.ParseStrict(strings.ToUpper(s[len(prefix)+1:]))
	return err == nil
}
