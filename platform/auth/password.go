package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id: memory-hard (GPU and ASIC cracking costs
// memory, not just time), the winner of the Password Hashing Competition, and
// in x/crypto with no cgo. The PHC string stores its parameters, so raising
// them later still verifies old hashes.
type Hasher struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	// Release, when set, is told after each hash so it can hand the hash's
	// memory back to the OS once logins go quiet.
	Release *IdleRelease
}

// IdleRelease returns freed heap to the OS after a quiet period. Each argon2id
// hash allocates MemoryKiB; the Go runtime would keep those pages for minutes,
// so a server idling after a few logins would sit well above its idle
// footprint. Under a steady stream of logins the timer keeps being pushed
// back and nothing is forced.
type IdleRelease struct {
	after time.Duration
	mu    sync.Mutex
	timer *time.Timer
}

// NewIdleRelease releases memory after quiet.
func NewIdleRelease(quiet time.Duration) *IdleRelease { return &IdleRelease{after: quiet} }

func (r *IdleRelease) touch() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(r.after, debug.FreeOSMemory)
		return
	}
	r.timer.Reset(r.after)
}

// Stop cancels a pending release.
func (r *IdleRelease) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}

// DefaultHasher is one of OWASP's equivalent argon2id minimums: 7 MiB, 5
// passes, 1 lane. Of those settings it holds the least memory per login,
// which keeps the server's footprint small under concurrent logins.
var DefaultHasher = Hasher{MemoryKiB: 7 * 1024, Time: 5, Threads: 1}

// Password length bounds, in bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// Hash returns the PHC-format argon2id hash of password.
func (h Hasher) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, 32)
	h.Release.touch()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches the PHC hash, in constant time.
func (h Hasher) Verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	h.Release.touch()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
