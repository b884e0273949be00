package secrets

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealOpen(t *testing.T) {
	k, err := NewKeyring(key(1))
	require.NoError(t, err)
	id, ct, err := k.seal("prj_a", "API_KEY", []byte("sk-live-123"))
	require.NoError(t, err)
	require.Equal(t, keyID(key(1)), id)
	require.Len(t, ct, len("sk-live-123")+Overhead)
	require.NotContains(t, string(ct), "sk-live-123")
	got, err := k.open(id, "prj_a", "API_KEY", ct)
	require.NoError(t, err)
	require.Equal(t, "sk-live-123", string(got))

	_, again, err := k.seal("prj_a", "API_KEY", []byte("sk-live-123"))
	require.NoError(t, err)
	require.NotEqual(t, ct, again, "a fresh nonce each time: equal values do not show as equal ciphertexts")
}

// TestCiphertextIsBoundToProjectAndName: a ciphertext moved to another
// project or name, or altered, does not open.
func TestCiphertextIsBoundToProjectAndName(t *testing.T) {
	k, err := NewKeyring(key(1))
	require.NoError(t, err)
	id, ct, err := k.seal("prj_a", "API_KEY", []byte("sk-live-123"))
	require.NoError(t, err)
	for _, c := range []struct{ project, name string }{{"prj_b", "API_KEY"}, {"prj_a", "OTHER_KEY"}, {"prj_aAPI", "_KEY"}} {
		_, err := k.open(id, c.project, c.name, ct)
		require.ErrorIs(t, err, ErrCorrupt, "%s/%s", c.project, c.name)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 1
		_, err := k.open(id, "prj_a", "API_KEY", bad)
		require.ErrorIs(t, err, ErrCorrupt, "a flipped bit at %d", i)
	}
	_, err = k.open(id, "prj_a", "API_KEY", ct[:Overhead-1])
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestRotation: a keyring with a new key and the old one opens what the old
// one sealed and seals under the new one; without the old key, the old
// ciphertexts no longer open and say why.
func TestRotation(t *testing.T) {
	before, err := NewKeyring(key(1))
	require.NoError(t, err)
	oldID, oldCT, err := before.seal("prj_a", "TOKEN", []byte("written before"))
	require.NoError(t, err)

	rotated, err := NewKeyring(key(2), key(1))
	require.NoError(t, err)
	got, err := rotated.open(oldID, "prj_a", "TOKEN", oldCT)
	require.NoError(t, err)
	require.Equal(t, "written before", string(got))
	newID, newCT, err := rotated.seal("prj_a", "TOKEN", []byte("written after"))
	require.NoError(t, err)
	require.Equal(t, keyID(key(2)), newID, "new writes use the current key")
	require.NotEqual(t, oldID, newID)

	after, err := NewKeyring(key(2))
	require.NoError(t, err)
	_, err = after.open(oldID, "prj_a", "TOKEN", oldCT)
	require.ErrorIs(t, err, ErrUnknownKey)
	got, err = after.open(newID, "prj_a", "TOKEN", newCT)
	require.NoError(t, err)
	require.Equal(t, "written after", string(got))

	_, err = before.open(newID, "prj_a", "TOKEN", newCT)
	require.ErrorIs(t, err, ErrUnknownKey, "the old keyring does not know the new key")
}

func TestKeyringRefusesBadKeys(t *testing.T) {
	_, err := NewKeyring(make([]byte, 16))
	require.Error(t, err)
	_, err = NewKeyring(key(1), make([]byte, 31))
	require.Error(t, err)
	require.NotEqual(t, keyID(key(1)), keyID(key(2)))
	require.Regexp(t, `^[0-9a-f]{16}$`, keyID(key(1)), "the form the schema checks")
}
