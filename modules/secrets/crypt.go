package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Overhead is what sealing adds to a value: the nonce and the tag.
const Overhead = nonceSize + tagSize

const (
	nonceSize = 12
	tagSize   = 16
)

// Why a ciphertext does not open.
var (
	// ErrUnknownKey: the key it was sealed with is configured neither as
	// SLIPWAY_SECRETS_KEY nor among SLIPWAY_SECRETS_OLD_KEYS.
	ErrUnknownKey = errors.New("sealed with a key that is not configured")
	// ErrCorrupt: it was changed, or moved to another project or name.
	ErrCorrupt = errors.New("does not decrypt (altered, or moved from another project or name)")
)

// Keyring seals values under the current key and opens them under any
// configured key, chosen by the key id stored beside each ciphertext.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a keyring from 32-byte keys: current seals and opens,
// old ones only open.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("secrets key %d: %d bytes, want 32", i, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("secrets key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets key %d: %w", i, err)
		}
		id := keyID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// keyID names a key without revealing it: the first 8 bytes of a SHA-256
// of it, in hex. Derived from the key, it needs no configuration of its
// own and cannot be given to the wrong key.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("slipway secrets key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// additionalData binds a ciphertext to its project and name: GCM
// authenticates it, so a ciphertext copied to another project or name,
// even by someone with write access to the database, does not open.
// Neither part can hold NUL.
func additionalData(projectID, name string) []byte {
	return []byte("slipway secret v1\x00" + projectID + "\x00" + name)
}

// seal encrypts value for the project's secret name under the current key,
// with a fresh random nonce before the sealed bytes.
func (k *Keyring) seal(projectID, name string, value []byte) (keyID string, ciphertext []byte, err error) {
	nonce := make([]byte, nonceSize, nonceSize+len(value)+tagSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("secret nonce: %w", err)
	}
	return k.current, k.aeads[k.current].Seal(nonce, nonce, value, additionalData(projectID, name)), nil
}

// open decrypts what seal made for the project's secret name.
func (k *Keyring) open(keyID, projectID, name string, ciphertext []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(ciphertext) < Overhead {
		return nil, ErrCorrupt
	}
	value, err := aead.Open(nil, ciphertext[:nonceSize], ciphertext[nonceSize:], additionalData(projectID, name))
	if err != nil {
		return nil, ErrCorrupt
	}
	return value, nil
}
