package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
// the key), never panic, and always fail with ErrInvalidToken. A token that
// is accepted is checked independently of golang-jwt: HS256, our kid, and
// an HMAC-SHA256 of its signing input under the key equal to its signature.
// The seeds include tokens whose claims are all valid but whose signature
// is not, so a Verify that stopped checking signatures fails on the seeds.
func FuzzHMACVerify(f *testing.F) {
	key := []byte("fuzz-secret-that-is-32-bytes-long!!")
	tokens := NewHMACTokens(key, "slipway", "slipway-api", time.Hour)
	good, err := tokens.Issue("usr_x")
	require.NoError(f, err)
	parts := strings.Split(good, ".")
	require.Len(f, parts, 3)
	signed := parts[0] + "." + parts[1]
	hs256 := func(key []byte, input string) string {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(input))
		return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	flipped := []byte(parts[2])
	flipped[0] = map[bool]byte{true: 'B', false: 'A'}[flipped[0] == 'A']
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + tokens.kid + `","typ":"JWT"}`))
	for _, seed := range []string{
		good,
		good[:len(good)-2],
		signed + ".",                   // no signature
		signed + "." + string(flipped), // a corrupted signature
		signed + "." + hs256([]byte("another key that is 32 bytes long"), signed), // signed with another key
		none + "." + parts[1] + ".", // alg none, valid claims
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"a.b.c",
	} {
		f.Add(seed)
	}
	// Signed with our key but listing critical extensions: refused.
	f.Add(signWithHeader(f, tokens, map[string]any{"crit": []string{"b64"}, "b64": false}))
	f.Add(signWithHeader(f, tokens, map[string]any{"crit": []string{}}))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := tokens.Verify(context.Background(), raw)
		if raw == good {
			require.NoError(t, err)
			return
		}
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidToken))
			return
		}
		// Accepted: only a token signed with our key may be, and the
		// fuzzer has no key.
		segs := strings.Split(raw, ".")
		require.Len(t, segs, 3, "accepted a token without three segments")
		rawHeader, err := base64.RawURLEncoding.DecodeString(segs[0])
		require.NoError(t, err, "accepted a header that is not base64url")
		var header struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		}
		require.NoError(t, json.Unmarshal(rawHeader, &header), "accepted a header that is not JSON")
		require.Equal(t, "HS256", header.Alg)
		require.Equal(t, tokens.kid, header.Kid)
		var fields map[string]any
		require.NoError(t, json.Unmarshal(rawHeader, &fields))
		require.NotContains(t, fields, "crit", "a token listing critical extensions was accepted")
		sig, err := base64.RawURLEncoding.DecodeString(segs[2])
		require.NoError(t, err, "accepted a signature that is not base64url")
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(segs[0] + "." + segs[1]))
		require.True(t, hmac.Equal(mac.Sum(nil), sig), "accepted a token not signed with the key")
		require.Equal(t, "usr_x", c.Subject)
	})
}

func TestPasswordHash(t *testing.T) {
	ctx := context.Background()
	h := Hasher{MemoryKiB: 1024, Time: 1, Threads: 1}
	hash, err := h.Hash(ctx, "correct horse")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$"))
	ok, err := h.Verify(ctx, hash, "correct horse")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = h.Verify(ctx, hash, "wrong horse")
	require.NoError(t, err)
	require.False(t, ok)
	other, _ := h.Hash(ctx, "correct horse")
	require.NotEqual(t, hash, other, "salted")

	stronger := Hasher{MemoryKiB: 2048, Time: 2, Threads: 1}
	ok, err = stronger.Verify(ctx, hash, "correct horse")
	require.NoError(t, err)
	require.True(t, ok, "old hashes verify after the parameters change")

	dummy := h.DummyHash()
	require.True(t, strings.HasPrefix(dummy, "$argon2id$v=19$m=1024,t=1,p=1$"))
	ok, err = h.Verify(ctx, dummy, "correct horse")
	require.NoError(t, err, "the dummy hash is well formed, so checking it costs a real check")
	require.False(t, ok)

	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=1,t=1,p=1$aa$bb", "$argon2id$v=19$m=x$aa$bb",
		"$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5", "$argon2id$v=19$m=1024,t=1,p=0$c2FsdHNhbHRzYWx0c2FsdA$a2V5"} {
		_, err := h.Verify(ctx, bad, "x")
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
