package auth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// signWithHeader mints a token with our key and kid, plus extra header
// fields, as a forger holding the key (or a future version of us) would.
func signWithHeader(t testing.TB, tokens *HMACTokens, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "usr_x", Issuer: "slipway", Audience: jwt.ClaimStrings{"slipway-api"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	})
	tok.Header["kid"] = tokens.kid
	for k, v := range extra {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(tokens.key)
	require.NoError(t, err)
	return s
}

func TestHMACVerifyRefusesCrit(t *testing.T) {
	tokens := NewHMACTokens([]byte("test-secret-that-is-32-bytes-long!!"), "slipway", "slipway-api", time.Hour)
	tests := []struct {
		name   string
		header map[string]any
		ok     bool
	}{
		{name: "no crit", ok: true},
		{name: "other unknown header", header: map[string]any{"x-ext": 1}, ok: true},
		{name: "crit naming a claim", header: map[string]any{"crit": []string{"exp"}}},
		{name: "crit naming an extension", header: map[string]any{"crit": []string{"b64"}, "b64": false}},
		{name: "empty crit", header: map[string]any{"crit": []string{}}},
		{name: "crit not a list", header: map[string]any{"crit": "b64"}},
		{name: "crit null", header: map[string]any{"crit": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tokens.Verify(context.Background(), signWithHeader(t, tokens, tc.header))
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, "usr_x", c.Subject)
				return
			}
			require.ErrorIs(t, err, ErrInvalidToken)
			require.ErrorContains(t, err, "unsupported crit header")
			require.Equal(t, Claims{}, c)
		})
	}
}
