package cognito

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, never
// answer anything but ErrInvalidToken while keys are cached, and never accept
// a token whose RS256 signature does not check out against the test key its
// kid names.
func FuzzVerify(f *testing.F) {
	keys := map[string]*rsa.PrivateKey{kidA: keyA(), kidB: keyB()}
	srv := newJWKSServer(f, keys)
	cfg := baseConfig(srv)
	cfg.AcceptIDTokens = true
	cfg.RefreshInterval = 50 * time.Millisecond
	v := newVerifier(f, cfg, zap.NewNop())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.Start(ctx); err != nil {
		f.Fatal(err)
	}

	pubDER, err := x509.MarshalPKIXPublicKey(&keyA().PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := rs256(f, keyA(), kidA, accessClaims())
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		rs256(f, keyB(), kidB, idClaims()),
		rs256(f, keyA(), kidA, with(accessClaims(), "exp", testNow.Add(-time.Hour).Unix())),
		rs256(f, keyA(), kidA, with(accessClaims(), "client_id", "other")),
		rs256(f, keyOther(), kidA, accessClaims()),
		rs256(f, keyA(), "", accessClaims()),
		rs256(f, keyA(), "kid-unknown", accessClaims()),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidA, accessClaims()),
		sign(f, jwt.SigningMethodHS256, pubPEM, kidA, accessClaims()),
		sign(f, jwt.SigningMethodHS256, pubDER, kidA, accessClaims()),
		sign(f, jwt.SigningMethodPS256, keyA(), kidA, accessClaims()),
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		rawToken(`{"alg":"RS256","kid":"kid-a","crit":["x"]}`, `{}`, nil),
		rs256Header(f, keyA(), kidA, map[string]any{"crit": []string{"b64"}, "b64": false}, accessClaims()),
		rawToken(`{"alg":"RS256","kid":"kid-a"}`, `{"exp":1e309}`, []byte("x")),
		rawToken(`{"alg":"RS256","kid":"kid-a"}`, `{"exp":-9223372036854775808,"aud":[1]}`, []byte("x")),
		"", ".", "..", "...", "a.b.c", "Bearer x.y.z",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("rejection without ErrInvalidToken: %v", err)
			}
			// Longer than any fixed reason text, so a match means a leak.
			if len(token) > 80 && strings.Contains(err.Error(), token) {
				t.Fatalf("error %q holds the token", err)
			}
			return
		}
		// Accepted: check it independently of golang-jwt.
		segs := strings.Split(token, ".")
		if len(segs) != 3 {
			t.Fatalf("accepted a token with %d segments", len(segs))
		}
		rawHeader, err := base64.RawURLEncoding.DecodeString(segs[0])
		if err != nil {
			t.Fatalf("accepted a token whose header is not base64url: %v", err)
		}
		var header struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		}
		if err := json.Unmarshal(rawHeader, &header); err != nil {
			t.Fatalf("accepted a token whose header is not JSON: %v", err)
		}
		if bytesHasKey(rawHeader, "crit") {
			t.Fatalf("accepted a token listing critical extensions")
		}
		key, ok := keys[header.Kid]
		if header.Alg != "RS256" || !ok {
			t.Fatalf("accepted alg %q kid %q", header.Alg, header.Kid)
		}
		sig, err := base64.RawURLEncoding.DecodeString(segs[2])
		if err != nil {
			t.Fatalf("accepted a token whose signature is not base64url: %v", err)
		}
		digest := sha256.Sum256([]byte(segs[0] + "." + segs[1]))
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("accepted a token not signed by the test key: %v", err)
		}
		if id.Subject == "" || (id.TokenUse != "access" && id.TokenUse != "id") ||
			(id.ClientID != clientA && id.ClientID != clientB) || !id.ExpiresAt.After(testNow) {
			t.Fatalf("accepted an identity that breaks the rules: %+v", id)
		}
	})
}

// bytesHasKey reports whether the JSON object raw has key, whatever its
// value (a null crit must be refused too).
func bytesHasKey(raw []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}
