package cognito

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func TestVerify(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA(), kidB: keyB()})

	pubDER, err := x509.MarshalPKIXPublicKey(&keyA().PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&keyA().PublicKey)})
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)

	valid := rs256(t, keyA(), kidA, accessClaims())
	parts := strings.Split(valid, ".")
	tamperedClaims := with(accessClaims(), "sub", "someone-else")
	tamperedBody, err := json.Marshal(tamperedClaims)
	require.NoError(t, err)
	tampered := parts[0] + "." + b64(tamperedBody) + "." + parts[2]
	goodHeader := `{"alg":"RS256","kid":"kid-a","typ":"JWT"}`
	goodClaims, err := json.Marshal(accessClaims())
	require.NoError(t, err)

	wantAccess := Identity{
		Subject: "user-123", Username: "alice", Groups: []string{"admins", "dev"},
		ClientID: clientA, TokenUse: "access", ExpiresAt: testNow.Add(time.Hour),
	}
	wantID := Identity{
		Subject: "user-123", Username: "alice", Email: "alice@example.com", Groups: []string{"dev"},
		ClientID: clientB, TokenUse: "id", ExpiresAt: testNow.Add(time.Hour),
	}
	acceptID := func(c *Config) { c.AcceptIDTokens = true }
	leeway := func(d time.Duration) func(*Config) { return func(c *Config) { c.Leeway = d } }
	at := func(d time.Duration) int64 { return testNow.Add(d).Unix() }

	tests := []struct {
		name   string
		cfg    func(*Config)
		token  string
		want   Identity // when reason is empty
		reason string   // expected rejection reason
	}{
		{name: "valid access token", token: valid, want: wantAccess},
		{name: "access token of second client", token: rs256(t, keyB(), kidB, with(accessClaims(), "client_id", clientB)),
			want: func() Identity { w := wantAccess; w.ClientID = clientB; return w }()},
		{name: "access token without groups", token: rs256(t, keyA(), kidA, with(accessClaims(), "cognito:groups", nil)),
			want: func() Identity { w := wantAccess; w.Groups = nil; return w }()},
		{name: "id token when allowed", cfg: acceptID, token: rs256(t, keyA(), kidA, idClaims()), want: wantID},
		{name: "id token with aud list", cfg: acceptID, token: rs256(t, keyA(), kidA, with(idClaims(), "aud", []string{"other", clientB})), want: wantID},
		{name: "id token when not allowed", token: rs256(t, keyA(), kidA, idClaims()), reason: "id tokens not accepted"},

		// Signature and algorithm.
		{name: "bad signature other key same kid", token: rs256(t, keyOther(), kidA, accessClaims()), reason: "bad signature"},
		{name: "signed by key b under kid a", token: rs256(t, keyB(), kidA, accessClaims()), reason: "bad signature"},
		{name: "tampered claims", token: tampered, reason: "bad signature"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", reason: "bad signature"},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "alg none raw", token: rawToken(`{"alg":"none","kid":"kid-a"}`, string(goodClaims), nil), reason: "signing method not allowed"},
		{name: "alg NONE", token: rawToken(`{"alg":"NONE","kid":"kid-a"}`, string(goodClaims), nil), reason: "signing method not allowed"},
		{name: "alg missing", token: rawToken(`{"kid":"kid-a"}`, string(goodClaims), []byte("x")), reason: "signing method not allowed"},
		{name: "HS256 with public key PEM", token: sign(t, jwt.SigningMethodHS256, pubPEM, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "HS256 with public key PKCS1 PEM", token: sign(t, jwt.SigningMethodHS256, pkcs1PEM, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "HS256 with public key DER", token: sign(t, jwt.SigningMethodHS256, pubDER, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "HS512 with public key PEM", token: sign(t, jwt.SigningMethodHS512, pubPEM, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "ES256", token: sign(t, jwt.SigningMethodES256, ecKey, kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "RS512 with the right key", token: sign(t, jwt.SigningMethodRS512, keyA(), kidA, accessClaims()), reason: "signing method not allowed"},
		{name: "PS256 with the right key", token: sign(t, jwt.SigningMethodPS256, keyA(), kidA, accessClaims()), reason: "signing method not allowed"},

		// Key selection.
		{name: "missing kid", token: rs256(t, keyA(), "", accessClaims()), reason: "missing kid"},
		{name: "empty kid", token: rawToken(`{"alg":"RS256","kid":""}`, string(goodClaims), []byte("x")), reason: "missing kid"},
		{name: "numeric kid", token: rawToken(`{"alg":"RS256","kid":7}`, string(goodClaims), []byte("x")), reason: "missing kid"},
		{name: "unknown kid", token: rs256(t, keyA(), "kid-zzz", accessClaims()), reason: "unknown signing key"},
		{name: "crit header", token: rawToken(`{"alg":"RS256","kid":"kid-a","crit":["exp"]}`, string(goodClaims), []byte("x")), reason: "unsupported crit header"},
		// RFC 7515 §4.1.11, on tokens whose signature is good.
		{name: "signed crit extension", token: rs256Header(t, keyA(), kidA, map[string]any{"crit": []string{"b64"}, "b64": false}, accessClaims()), reason: "unsupported crit header"},
		{name: "signed empty crit", token: rs256Header(t, keyA(), kidA, map[string]any{"crit": []string{}}, accessClaims()), reason: "unsupported crit header"},
		{name: "signed crit not a list", token: rs256Header(t, keyA(), kidA, map[string]any{"crit": "exp"}, accessClaims()), reason: "unsupported crit header"},
		{name: "signed crit with unknown kid", token: rs256Header(t, keyA(), "kid-zzz", map[string]any{"crit": []string{"b64"}}, accessClaims()), reason: "unsupported crit header"},
		{name: "signed other unknown header", token: rs256Header(t, keyA(), kidA, map[string]any{"x-ext": 1}, accessClaims()), want: wantAccess},

		// Time claims, leeway 0.
		{name: "expired", token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", at(-time.Minute))), reason: "token expired"},
		{name: "exp equal to now", token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", at(0))), reason: "token expired"},
		{name: "exp one second ahead", token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", at(time.Second))),
			want: func() Identity { w := wantAccess; w.ExpiresAt = testNow.Add(time.Second); return w }()},
		{name: "exp missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", nil)), reason: "missing exp"},
		{name: "nbf in the future", token: rs256(t, keyA(), kidA, with(accessClaims(), "nbf", at(time.Second))), reason: "token not valid yet"},
		{name: "nbf equal to now", token: rs256(t, keyA(), kidA, with(accessClaims(), "nbf", at(0))), want: wantAccess},
		{name: "iat in the future", token: rs256(t, keyA(), kidA, with(accessClaims(), "iat", at(time.Second))), reason: "token issued in the future"},
		{name: "iat equal to now", token: rs256(t, keyA(), kidA, with(accessClaims(), "iat", at(0))), want: wantAccess},
		{name: "iat missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "iat", nil)), want: wantAccess},

		// Leeway boundaries (30s): exp is valid while now < exp+leeway,
		// nbf and iat while now >= claim-leeway.
		{name: "leeway exp at boundary", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", at(-30*time.Second))), reason: "token expired"},
		{name: "leeway exp inside", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", at(-29*time.Second))),
			want: func() Identity { w := wantAccess; w.ExpiresAt = testNow.Add(-29 * time.Second); return w }()},
		{name: "leeway nbf at boundary", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "nbf", at(30*time.Second))), want: wantAccess},
		{name: "leeway nbf beyond", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "nbf", at(31*time.Second))), reason: "token not valid yet"},
		{name: "leeway iat at boundary", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "iat", at(30*time.Second))), want: wantAccess},
		{name: "leeway iat beyond", cfg: leeway(30 * time.Second), token: rs256(t, keyA(), kidA, with(accessClaims(), "iat", at(31*time.Second))), reason: "token issued in the future"},

		// Issuer.
		{name: "wrong issuer pool", token: rs256(t, keyA(), kidA, with(accessClaims(), "iss", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other")), reason: "wrong issuer"},
		{name: "issuer with trailing slash", token: rs256(t, keyA(), kidA, with(accessClaims(), "iss", testIssuer+"/")), reason: "wrong issuer"},
		{name: "issuer over http", token: rs256(t, keyA(), kidA, with(accessClaims(), "iss", strings.Replace(testIssuer, "https", "http", 1))), reason: "wrong issuer"},
		{name: "issuer missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "iss", nil)), reason: "wrong issuer"},

		// Clients and audiences.
		{name: "wrong client_id", token: rs256(t, keyA(), kidA, with(accessClaims(), "client_id", "client-zzz")), reason: "client_id not accepted"},
		{name: "client_id missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "client_id", nil)), reason: "missing client_id"},
		{name: "access token with aud but no client_id", token: rs256(t, keyA(), kidA, with(with(accessClaims(), "client_id", nil), "aud", clientA)), reason: "missing client_id"},
		{name: "id token wrong aud", cfg: acceptID, token: rs256(t, keyA(), kidA, with(idClaims(), "aud", "client-zzz")), reason: "aud not accepted"},
		{name: "id token aud missing", cfg: acceptID, token: rs256(t, keyA(), kidA, with(idClaims(), "aud", nil)), reason: "aud not accepted"},
		{name: "id token with client_id but wrong aud", cfg: acceptID, token: rs256(t, keyA(), kidA, with(with(idClaims(), "aud", "client-zzz"), "client_id", clientA)), reason: "aud not accepted"},

		// token_use and sub.
		{name: "token_use refresh", token: rs256(t, keyA(), kidA, with(accessClaims(), "token_use", "refresh")), reason: "wrong token_use"},
		{name: "token_use uppercase", token: rs256(t, keyA(), kidA, with(accessClaims(), "token_use", "ACCESS")), reason: "wrong token_use"},
		{name: "token_use missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "token_use", nil)), reason: "missing token_use"},
		{name: "sub missing", token: rs256(t, keyA(), kidA, with(accessClaims(), "sub", nil)), reason: "missing sub"},
		{name: "sub empty", token: rs256(t, keyA(), kidA, with(accessClaims(), "sub", "")), reason: "missing sub"},

		// Malformed input.
		{name: "empty", token: "", reason: "empty token"},
		{name: "one segment", token: "abc", reason: "malformed token"},
		{name: "two segments", token: parts[0] + "." + parts[1], reason: "malformed token"},
		{name: "four segments", token: valid + ".x", reason: "malformed token"},
		{name: "bearer prefix", token: "Bearer " + valid, reason: "malformed token"},
		{name: "bad base64", token: "!!!.###.$$$", reason: "malformed token"},
		{name: "header not json", token: rawToken(`not json`, string(goodClaims), []byte("x")), reason: "malformed token"},
		{name: "claims not json", token: rawToken(goodHeader, `not json`, []byte("x")), reason: "malformed token"},
		{name: "claims array", token: rawToken(goodHeader, `[1,2]`, []byte("x")), reason: "malformed token"},
		{name: "groups as string", token: rs256(t, keyA(), kidA, with(accessClaims(), "cognito:groups", "admins")), reason: "malformed token"},
		{name: "exp as string", token: rs256(t, keyA(), kidA, with(accessClaims(), "exp", "tomorrow")), reason: "malformed token"},
		{name: "signature not base64", token: parts[0] + "." + parts[1] + ".***", reason: "malformed token"},
		{name: "too large", token: strings.Repeat("a", maxTokenBytes+1), reason: "token too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(srv)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			v := newVerifier(t, cfg, nil)
			startVerifier(t, v)

			got, err := v.Verify(context.Background(), tc.token)
			if tc.reason != "" {
				require.ErrorIs(t, err, ErrInvalidToken)
				require.NotErrorIs(t, err, derrors.ErrUnavailable)
				require.True(t, strings.HasSuffix(err.Error(), ": "+tc.reason), "error %q, want reason %q", err, tc.reason)
				if tc.token != "" {
					require.NotContains(t, err.Error(), tc.token, "the token must not leak into the error")
				}
				require.Equal(t, Identity{}, got)
				return
			}
			require.NoError(t, err)
			require.True(t, tc.want.ExpiresAt.Equal(got.ExpiresAt), "ExpiresAt %v, want %v", got.ExpiresAt, tc.want.ExpiresAt)
			got.ExpiresAt = tc.want.ExpiresAt
			require.Equal(t, tc.want, got)
		})
	}
}

func TestVerifyCanceledContext(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	v := newVerifier(t, baseConfig(srv), nil)
	startVerifier(t, v)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := v.Verify(ctx, rs256(t, keyA(), kidA, accessClaims()))
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrInvalidToken)
}

func TestVerifyRealClock(t *testing.T) {
	// The pinned clock is a test hook: check the default one too.
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	v, err := New(baseConfig(srv), nil)
	require.NoError(t, err)
	t.Cleanup(v.Stop)
	startVerifier(t, v)

	now := time.Now()
	fresh := with(with(accessClaims(), "iat", now.Unix()), "exp", now.Add(time.Hour).Unix())
	_, err = v.Verify(context.Background(), rs256(t, keyA(), kidA, fresh))
	require.NoError(t, err)

	_, err = v.Verify(context.Background(), rs256(t, keyA(), kidA, accessClaims())) // expired long ago
	require.ErrorIs(t, err, ErrInvalidToken)
	require.True(t, errors.Is(err, ErrInvalidToken) && strings.HasSuffix(err.Error(), "token expired"), "got %v", err)
}
