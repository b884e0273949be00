package users_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// pool is a fake Cognito user pool: an RSA key served as a JWKS on loopback.
type pool struct {
	key    *rsa.PrivateKey
	kid    string
	srv    *httptest.Server
	down   atomic.Bool
	issuer string
}

func newPool(t *testing.T) *pool {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &pool{key: key, kid: "test-kid"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		n := base64.RawURLEncoding.EncodeToString(key.N.Bytes())
		e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": p.kid, "alg": "RS256", "use": "sig", "n": n, "e": e}}})
	}))
	t.Cleanup(p.srv.Close)
	p.issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
	return p
}

func (p *pool) settings(s *settings.Settings) {
	s.Auth.Mode = settings.AuthCognito
	s.Auth.Cognito.Region = "us-east-1"
	s.Auth.Cognito.UserPoolID = "us-east-1_TestPool"
	s.Auth.Cognito.ClientIDs = []string{"web-client"}
	s.Auth.Cognito.JWKSURL = p.srv.URL + "/.well-known/jwks.json"
	s.Auth.Cognito.RefreshInterval = time.Second
	s.Auth.Cognito.UnknownKIDMinInterval = time.Second
	s.Auth.Cognito.FetchTimeout = 2 * time.Second
}

// token mints an access token for sub with groups.
func (p *pool) token(t *testing.T, sub string, groups ...string) string {
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "iss": p.issuer, "token_use": "access", "client_id": "web-client",
		"username": "user-" + sub[:4], "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if len(groups) > 0 {
		claims["cognito:groups"] = groups
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = p.kid
	s, err := tok.SignedString(p.key)
	require.NoError(t, err)
	return s
}

const (
	subAlice = "1f6b0c1e-0000-4000-8000-00000000a11c"
	subRoot  = "1f6b0c1e-0000-4000-8000-0000000000r0"
)

func TestCognitoModeCreatesUsersAndKeepsGroupsFresh(t *testing.T) {
	p := newPool(t)
	a := apptest.Start(t, p.settings)

	for _, path := range []string{"/v1/auth/signup", "/v1/auth/login"} {
		res := a.Post(path, "", map[string]any{"email": "x@example.com", "password": "correct horse battery"})
		require.Equal(t, http.StatusNotFound, res.Status, "%s is not registered in cognito mode", path)
	}

	res := a.Get("/v1/auth/me", p.token(t, subAlice))
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	me := res.JSON(t)
	require.Equal(t, "usr_"+subAlice, me["id"])
	require.Equal(t, []any{}, me["groups"])

	res = a.Get("/v1/auth/me", p.token(t, subAlice, "operator", "some-other-cognito-group"))
	require.Equal(t, []any{"operator"}, res.JSON(t)["groups"], "groups follow the token; unknown ones are dropped")
	require.Equal(t, http.StatusOK, a.Get("/v1/projects?all=true", p.token(t, subAlice, "operator")).Status)
	require.Equal(t, http.StatusForbidden, a.Get("/v1/projects?all=true", p.token(t, subAlice)).Status)

	require.Equal(t, http.StatusCreated, a.Post("/v1/projects", p.token(t, subAlice), map[string]any{"name": "via cognito"}).Status)
	require.Equal(t, http.StatusOK, a.Get("/readyz", "").Status)
}

func TestCognitoDisabledUserIsRefusedAtOnce(t *testing.T) {
	p := newPool(t)
	a := apptest.Start(t, p.settings)
	rootTok := p.token(t, subRoot, "root")
	aliceTok := p.token(t, subAlice)
	require.Equal(t, http.StatusOK, a.Get("/v1/auth/me", aliceTok).Status)

	res := a.Patch("/v1/admin/users/usr_"+subAlice, rootTok, map[string]any{"disabled": true})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res = a.Get("/v1/auth/me", aliceTok)
	require.Equal(t, http.StatusUnauthorized, res.Status, "a valid Cognito token of a disabled user")
	require.Equal(t, "invalid_token", res.ErrorCode(t))

	require.Equal(t, http.StatusOK, a.Patch("/v1/admin/users/usr_"+subAlice, rootTok, map[string]any{"disabled": false}).Status)
	require.Equal(t, http.StatusOK, a.Get("/v1/auth/me", aliceTok).Status)
}

func TestCognitoRejectsForeignTokens(t *testing.T) {
	p := newPool(t)
	a := apptest.Start(t, p.settings)
	other := newPool(t) // another key, same claims
	res := a.Get("/v1/auth/me", other.token(t, subAlice))
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Equal(t, "invalid_token", res.ErrorCode(t))
}

func TestCognitoWithoutKeysIsServiceUnavailable(t *testing.T) {
	p := newPool(t)
	p.down.Store(true)
	a := apptest.Start(t, p.settings) // the first fetch fails: logged, not fatal
	res := a.Get("/v1/auth/me", p.token(t, subAlice))
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	require.Equal(t, "service_unavailable", res.ErrorCode(t))
	require.Equal(t, true, res.JSON(t)["error"].(map[string]any)["retryable"])
	ready := a.Get("/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, ready.Status)
	require.Contains(t, string(ready.Body), "cognito")

	p.down.Store(false) // keys arrive with the next refresh
	require.Eventually(t, func() bool { return a.Get("/v1/auth/me", p.token(t, subAlice)).Status == http.StatusOK },
		10*time.Second, 100*time.Millisecond)
}
