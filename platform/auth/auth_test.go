package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc.def.ghi":                  "abc.def.ghi",
		"bearer abc":                          "abc",
		"BEARER   abc  ":                      "abc",
		"Bearer":                              "",
		"Bearer ":                             "",
		"Basic abc":                           "",
		"abc":                                 "",
		"Bearer a b":                          "",
		"Bearer a\tb":                         "",
		"Bearer " + strings.Repeat("a", 8193): "",
	} {
		got, ok := BearerToken(header)
		require.Equal(t, want, got, header)
		require.Equal(t, want != "", ok, header)
	}
}

// FuzzBearerToken: whatever the header, parsing never panics and a token it
// accepts is non-empty, bounded and free of whitespace.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x.y.z", "Basic x", "", "Bearer \x00", "Bearer  a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := BearerToken(header)
		if !ok {
			require.Empty(t, tok)
			return
		}
		require.NotEmpty(t, tok)
		require.LessOrEqual(t, len(tok), 8192)
		require.False(t, strings.ContainsAny(tok, " \t\r\n"))
	})
}

// FuzzHMACVerify: arbitrary strings never verify (they are not signed with
// the key), never panic, and always fail with ErrInvalidToken.
func FuzzHMACVerify(f *testing.F) {
	tokens := NewHMACTokens([]byte("fuzz-secret-that-is-32-bytes-long!!"), "slipway", "slipway-api", time.Hour)
	good, err := tokens.Issue("usr_x")
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	// Signed with our key but listing critical extensions: refused.
	f.Add(signWithHeader(f, tokens, map[string]any{"crit": []string{"b64"}, "b64": false}))
	f.Add(signWithHeader(f, tokens, map[string]any{"crit": []string{}}))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := tokens.Verify(context.Background(), raw)
		if raw == good {
			require.NoError(t, err)
			return
		}
		if err == nil {
			// Only a token signed with our key may pass: re-signing is the
			// only way, and the fuzzer has no key.
			require.Equal(t, "usr_x", c.Subject)
			header, _, _ := strings.Cut(raw, ".")
			decoded, derr := base64.RawURLEncoding.DecodeString(header)
			require.NoError(t, derr)
			var h map[string]any
			require.NoError(t, json.Unmarshal(decoded, &h))
			require.NotContains(t, h, "crit", "a token listing critical extensions was accepted")
			return
		}
		require.True(t, errors.Is(err, ErrInvalidToken))
	})
}

func TestPasswordHash(t *testing.T) {
	h := Hasher{MemoryKiB: 1024, Time: 1, Threads: 1}
	hash, err := h.Hash("correct horse")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$"))
	ok, err := h.Verify(hash, "correct horse")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = h.Verify(hash, "wrong horse")
	require.NoError(t, err)
	require.False(t, ok)
	other, _ := h.Hash("correct horse")
	require.NotEqual(t, hash, other, "salted")

	stronger := Hasher{MemoryKiB: 2048, Time: 2, Threads: 1}
	ok, err = stronger.Verify(hash, "correct horse")
	require.NoError(t, err)
	require.True(t, ok, "old hashes verify after the parameters change")

	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=1,t=1,p=1$aa$bb", "$argon2id$v=19$m=x$aa$bb"} {
		_, err := h.Verify(bad, "x")
		require.Error(t, err, bad)
	}
}

type countingVerifier struct {
	calls int
	exp   time.Time
	err   error
}

func (c *countingVerifier) Verify(context.Context, string) (Claims, error) {
	c.calls++
	return Claims{Subject: "usr_x", ExpiresAt: c.exp}, c.err
}

func TestCachedVerifier(t *testing.T) {
	now := time.Unix(1000, 0)
	next := &countingVerifier{exp: now.Add(30 * time.Second)}
	c := newCachedVerifier(next, 2, time.Minute)
	c.now = func() time.Time { return now }
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		got, err := c.Verify(ctx, "tok-a")
		require.NoError(t, err)
		require.Equal(t, "usr_x", got.Subject)
	}
	require.Equal(t, 1, next.calls, "verified once")

	now = now.Add(31 * time.Second)
	_, _ = c.Verify(ctx, "tok-a")
	require.Equal(t, 2, next.calls, "an expired token is verified again (and refused by the real verifier)")

	next.exp = now.Add(time.Hour)
	_, _ = c.Verify(ctx, "tok-b")
	now = now.Add(61 * time.Second)
	_, _ = c.Verify(ctx, "tok-b")
	require.Equal(t, 4, next.calls, "entries live at most maxAge")

	next.err = ErrInvalidToken
	_, err := c.Verify(ctx, "tok-bad")
	require.Error(t, err)
	_, err = c.Verify(ctx, "tok-bad")
	require.Error(t, err)
	require.Equal(t, 6, next.calls, "failures are never cached")

	next.err = nil
	for _, tok := range []string{"t1", "t2", "t3"} {
		_, _ = c.Verify(ctx, tok)
	}
	require.LessOrEqual(t, len(c.entries), 2, "bounded")
}
