package auth

import (
	"context"
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
	// Gate, when set, admits every hash and verification, so the memory they
	// hold at once stays within its budget however many clients sign up or
	// log in together.
	Gate *Gate

	// idKey is argon2.IDKey; tests replace it to hold hashes running.
	idKey func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
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

// Hash returns the PHC-format argon2id hash of password. It waits for the
// gate (see Gate) while ctx lives, and fails with 503 service_unavailable
// when no room comes free in time.
func (h Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := h.derive(ctx, []byte(password), salt, h.Time, h.MemoryKiB, h.Threads, 32)
	if err != nil {
		return "", err
	}
	return h.format(salt, key), nil
}

func (h Hasher) format(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// DummyHash returns a hash of h's cost that no password matches, made
// without hashing: verifying against it costs what checking a real
// password does (login spends it on unknown emails).
func (h Hasher) DummyHash() string {
	salt, key := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	return h.format(salt, key)
}

// derive runs argon2id inside the gate.
func (h Hasher) derive(ctx context.Context, password, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) ([]byte, error) {
	leave, err := h.Gate.Enter(ctx, memoryKiB)
	if err != nil {
		return nil, err
	}
	defer leave()
	idKey := h.idKey
	if idKey == nil {
		idKey = argon2.IDKey
	}
	key := idKey(password, salt, time, memoryKiB, threads, keyLen)
	h.Release.touch()
	return key, nil
}

var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches the PHC hash, in constant time.
// Like Hash it passes through the gate, with the memory the hash's own
// parameters need.
func (h Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
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
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || t < 1 || p < 1 || m < 8*uint32(p) {
		return false, errBadHash // argon2 panics on such parameters
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got, err := h.derive(ctx, []byte(password), salt, t, m, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
