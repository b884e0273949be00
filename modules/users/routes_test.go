package users_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

func TestSignUpLoginMe(t *testing.T) {
	a := apptest.Start(t)
	res := a.Post("/v1/auth/signup", "", map[string]any{"email": "  Ada@Example.com ", "password": "correct horse battery", "display_name": "Ada"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	body := res.JSON(t)
	require.Equal(t, "bearer", body["token_type"])
	require.EqualValues(t, 12*3600, body["expires_in"])
	user := body["user"].(map[string]any)
	require.Equal(t, "ada@example.com", user["email"])
	require.Equal(t, []any{}, user["groups"])
	require.NotContains(t, string(res.Body), "password")

	res = a.Post("/v1/auth/login", "", map[string]any{"email": "ADA@example.com", "password": "correct horse battery"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	token := res.JSON(t)["access_token"].(string)

	res = a.Get("/v1/auth/me", token)
	require.Equal(t, http.StatusOK, res.Status)
	me := res.JSON(t)
	require.Equal(t, user["id"], me["id"])
	require.Equal(t, "Ada", me["display_name"])
}

func TestSignUpRejections(t *testing.T) {
	a := apptest.Start(t)
	a.Post("/v1/auth/signup", "", map[string]any{"email": "taken@example.com", "password": "correct horse battery"})
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"email taken, other case", map[string]any{"email": "TAKEN@example.com", "password": "correct horse battery"}, 409, "email_taken", ""},
		{"bad email", map[string]any{"email": "not-an-email", "password": "correct horse battery"}, 422, "validation_error", "email"},
		{"short password", map[string]any{"email": "short@example.com", "password": "short"}, 422, "validation_error", "password"},
		{"missing email", map[string]any{"password": "correct horse battery"}, 422, "validation_error", "email"},
		{"groups by mass assignment", map[string]any{"email": "g@example.com", "password": "correct horse battery", "groups": []string{"root"}}, 422, "validation_error", "groups"},
		{"long name", map[string]any{"email": "n@example.com", "password": "correct horse battery", "display_name": strings.Repeat("n", 101)}, 422, "validation_error", "display_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := a.Post("/v1/auth/signup", "", tc.body)
			require.Equal(t, tc.status, res.Status, "%s", res.Body)
			require.Equal(t, tc.code, res.ErrorCode(t))
			if tc.field != "" {
				require.Contains(t, string(res.Body), `"field":"`+tc.field+`"`)
			}
		})
	}
}

func TestSignUpDisabled(t *testing.T) {
	a := apptest.Start(t, func(s *settings.Settings) { s.Auth.SignupEnabled = false })
	res := a.Post("/v1/auth/signup", "", map[string]any{"email": "x@example.com", "password": "correct horse battery"})
	require.Equal(t, http.StatusForbidden, res.Status)
	require.Equal(t, "signup_disabled", res.ErrorCode(t))
}

func TestLoginSameAnswerForUnknownEmailAndWrongPassword(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	wrong := a.Post("/v1/auth/login", "", map[string]any{"email": u.Email, "password": "wrong password!"})
	unknown := a.Post("/v1/auth/login", "", map[string]any{"email": "nobody@example.com", "password": "wrong password!"})
	require.Equal(t, http.StatusUnauthorized, wrong.Status)
	require.Equal(t, http.StatusUnauthorized, unknown.Status)
	require.Equal(t, "invalid_credentials", wrong.ErrorCode(t))
	require.Equal(t, string(wrong.JSON(t)["error"].(map[string]any)["message"].(string)),
		unknown.JSON(t)["error"].(map[string]any)["message"].(string))
}

func TestLoginRateLimitedPerEmail(t *testing.T) {
	a := apptest.Start(t) // test.yaml: 5 attempts per email per minute
	u := a.SignUp()
	for i := 0; i < 5; i++ {
		res := a.Post("/v1/auth/login", "", map[string]any{"email": u.Email, "password": "wrong password!"})
		require.Equal(t, http.StatusUnauthorized, res.Status)
	}
	res := a.Post("/v1/auth/login", "", map[string]any{"email": u.Email, "password": "correct horse battery"})
	require.Equal(t, http.StatusTooManyRequests, res.Status)
	require.Equal(t, "rate_limited", res.ErrorCode(t))
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Equal(t, true, res.JSON(t)["error"].(map[string]any)["retryable"])

	other := a.SignUp()
	res = a.Post("/v1/auth/login", "", map[string]any{"email": other.Email, "password": "correct horse battery"})
	require.Equal(t, http.StatusOK, res.Status, "another email is not limited")
}

func TestLoginRateLimitedPerAddress(t *testing.T) {
	a := apptest.Start(t, func(s *settings.Settings) { s.Auth.LoginLimitPerIP = 3 })
	for i := 0; i < 3; i++ {
		res := a.Post("/v1/auth/login", "", map[string]any{"email": "x" + string(rune('a'+i)) + "@example.com", "password": "whatever!!"})
		require.Equal(t, http.StatusUnauthorized, res.Status)
	}
	res := a.Post("/v1/auth/login", "", map[string]any{"email": "fresh@example.com", "password": "whatever!!"})
	require.Equal(t, http.StatusTooManyRequests, res.Status)
}

func TestSignUpRateLimitedPerAddress(t *testing.T) {
	a := apptest.Start(t, func(s *settings.Settings) {
		s.Auth.SignupLimitPerIP = 3
		s.HTTP.TrustedProxies = []string{"127.0.0.1"}
	})
	signUp := func(i int, from string) *apptest.Response {
		return a.Do(apptest.Request{Method: http.MethodPost, Path: "/v1/auth/signup",
			Body:   map[string]any{"email": fmt.Sprintf("new%d@example.com", i), "password": "correct horse battery"},
			Header: map[string]string{"X-Forwarded-For": from}})
	}
	for i := range 3 {
		res := signUp(i, "198.51.100.1")
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	}
	res := signUp(3, "198.51.100.1")
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	require.Equal(t, "rate_limited", res.ErrorCode(t))
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	// A forged address in front of the real one changes nothing.
	res = signUp(4, "203.0.113.50, 198.51.100.1")
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)

	res = signUp(5, "198.51.100.2")
	require.Equal(t, http.StatusCreated, res.Status, "another address is not limited: %s", res.Body)
}

func TestTokenRejections(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	secret := []byte(a.Settings.Auth.TokenSecret)
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
		tok := jwt.NewWithClaims(method, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		require.NoError(t, err)
		return s
	}
	kid := strings.Split(u.Token, ".")[0] // header of a real token carries our kid
	realKid := func() string {
		var h struct {
			Kid string `json:"kid"`
		}
		raw, err := jwt.NewParser().DecodeSegment(kid)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &h))
		return h.Kid
	}()
	now := time.Now()
	good := jwt.MapClaims{"sub": u.ID, "iss": "slipway", "aud": "slipway-api", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	require.Equal(t, http.StatusOK, a.Get("/v1/auth/me", sign(jwt.SigningMethodHS256, secret, good, realKid)).Status, "control: a well-formed token works")

	cases := map[string]string{
		"missing":          "",
		"garbage":          "not.a.token",
		"wrong key":        sign(jwt.SigningMethodHS256, []byte("another-secret-that-is-32-bytes-long!!"), good, realKid),
		"expired":          sign(jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix()), realKid),
		"no exp":           sign(jwt.SigningMethodHS256, secret, with("exp", nil), realKid),
		"wrong issuer":     sign(jwt.SigningMethodHS256, secret, with("iss", "evil"), realKid),
		"wrong audience":   sign(jwt.SigningMethodHS256, secret, with("aud", "other"), realKid),
		"HS512":            sign(jwt.SigningMethodHS512, secret, good, realKid),
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, realKid),
		"unknown kid":      sign(jwt.SigningMethodHS256, secret, good, "other"),
		"deleted user":     sign(jwt.SigningMethodHS256, secret, with("sub", "usr_01m8bbhhpcc7hjvs7g6jkvym6e"), realKid),
		"issued in future": sign(jwt.SigningMethodHS256, secret, with("iat", now.Add(time.Hour).Unix()), realKid),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			res := a.Get("/v1/auth/me", tok)
			require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
			require.Equal(t, "invalid_token", res.ErrorCode(t))
			require.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer")
		})
	}
	t.Run("malformed header", func(t *testing.T) {
		res := a.Do(apptest.Request{Method: "GET", Path: "/v1/auth/me", Header: map[string]string{"Authorization": "Basic " + u.Token}})
		require.Equal(t, http.StatusUnauthorized, res.Status)
	})
}

func TestTokensSurviveRestartWithGeneratedSecret(t *testing.T) {
	s := apptest.Settings(t)
	s.Env = settings.EnvLocal
	s.Auth.TokenSecret = "" // local mode generates and keeps one in the data dir
	a := apptest.StartWith(t, s)
	u := a.SignUp()
	a.Stop()
	b := apptest.StartWith(t, s)
	require.Equal(t, http.StatusOK, b.Get("/v1/auth/me", u.Token).Status)
}
