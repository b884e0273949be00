package cognito

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

const (
	testRegion = "eu-west-1"
	testPool   = "eu-west-1_TestPool1"
	testIssuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"
	clientA    = "client-a"
	clientB    = "client-b"
	kidA       = "kid-a"
	kidB       = "kid-b"
)

// testNow pins the token clock so time claims are exact.
var testNow = time.Unix(1_750_000_000, 0)

// testRSAKeys generates the RSA keys once: 2048-bit generation is slow under -race.
var testRSAKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func keyA() *rsa.PrivateKey     { return testRSAKeys()[0] }
func keyB() *rsa.PrivateKey     { return testRSAKeys()[1] }
func keyOther() *rsa.PrivateKey { return testRSAKeys()[2] }

type serveMode int

const (
	serveOK      serveMode = iota
	serveError             // 500
	serveHang              // blocks until the client gives up
	serveGarbage           // 200 with a body that is not JSON
	serveEmpty             // 200 with {"keys":[]}
)

// jwksServer is a loopback JWKS endpoint whose keys and behaviour tests switch.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu    sync.Mutex
	body  []byte
	mode  serveMode
	delay time.Duration // before answering in serveOK
}

func newJWKSServer(t testing.TB, keys map[string]*rsa.PrivateKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(keys)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) url() string { return s.srv.URL + "/.well-known/jwks.json" }

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	body, mode, delay := s.body, s.mode, s.delay
	s.mu.Unlock()
	switch mode {
	case serveError:
		http.Error(w, "boom", http.StatusInternalServerError)
	case serveHang:
		<-r.Context().Done()
	case serveGarbage:
		_, _ = w.Write([]byte("<html>not json</html>"))
	case serveEmpty:
		_, _ = w.Write([]byte(`{"keys":[]}`))
	default:
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

func (s *jwksServer) setKeys(keys map[string]*rsa.PrivateKey) {
	type key struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	doc := struct {
		Keys []key `json:"keys"`
	}{}
	for kid, k := range keys {
		doc.Keys = append(doc.Keys, key{
			Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
			N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	s.setBody(body)
}

func (s *jwksServer) setBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setMode(m serveMode, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode, s.delay = m, delay
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// baseConfig trusts testPool, clients A and B, and fetches from srv.
func baseConfig(srv *jwksServer) Config {
	return Config{
		Region:          testRegion,
		UserPoolID:      testPool,
		ClientIDs:       []string{clientA, clientB},
		JWKSURL:         srv.url(),
		RefreshInterval: 100 * time.Millisecond,
		FetchTimeout:    2 * time.Second,
	}
}

// newVerifier builds a Verifier on the pinned clock and stops it at cleanup.
func newVerifier(t testing.TB, cfg Config, log *zap.Logger) *Verifier {
	t.Helper()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	v, err := New(cfg, log)
	require.NoError(t, err)
	v.now = func() time.Time { return testNow }
	t.Cleanup(v.Stop)
	return v
}

func startVerifier(t testing.TB, v *Verifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, v.Start(ctx))
}

// lastFetchErr reads the last refresh error under its lock.
func lastFetchErr(v *Verifier) error {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	return v.lastErr
}

func accessClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":            "user-123",
		"iss":            testIssuer,
		"client_id":      clientA,
		"token_use":      "access",
		"username":       "alice",
		"cognito:groups": []string{"admins", "dev"},
		"scope":          "aws.cognito.signin.user.admin",
		"auth_time":      testNow.Add(-time.Minute).Unix(),
		"iat":            testNow.Add(-time.Minute).Unix(),
		"exp":            testNow.Add(time.Hour).Unix(),
		"jti":            "jti-1",
	}
}

func idClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":              "user-123",
		"iss":              testIssuer,
		"aud":              clientB,
		"token_use":        "id",
		"cognito:username": "alice",
		"cognito:groups":   []string{"dev"},
		"email":            "alice@example.com",
		"email_verified":   true,
		"auth_time":        testNow.Add(-time.Minute).Unix(),
		"iat":              testNow.Add(-time.Minute).Unix(),
		"exp":              testNow.Add(time.Hour).Unix(),
	}
}

// with returns a copy of c with key set to val, or removed when val is nil.
func with(c jwt.MapClaims, key string, val any) jwt.MapClaims {
	out := maps.Clone(c)
	if val == nil {
		delete(out, key)
	} else {
		out[key] = val
	}
	return out
}

// sign mints a token; an empty kid leaves the header without one.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// rs256 mints an RS256 token with kid.
func rs256(t testing.TB, key *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodRS256, key, kid, c)
}

// rs256Header mints an RS256 token with kid and extra header fields, such as
// a crit list, correctly signed so only the header can be at fault.
func rs256Header(t testing.TB, key *rsa.PrivateKey, kid string, extra map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	for k, v := range extra {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// rawToken encodes header and claims as given and appends sig, for tokens no
// library would produce.
func rawToken(header, claims string, sig []byte) string {
	return b64([]byte(header)) + "." + b64([]byte(claims)) + "." + b64(sig)
}
