package users_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestSecretsNeverReachTheLog drives sign-up, login, failed logins, bad
// tokens and authenticated calls, then searches every log entry, at every
// level, for the password and the tokens.
func TestSecretsNeverReachTheLog(t *testing.T) {
	a := apptest.Start(t)
	const password = "hunter2-but-longer"
	res := a.Post("/v1/auth/signup", "", map[string]any{"email": "secret@example.com", "password": password})
	token := res.JSON(t)["access_token"].(string)
	a.Post("/v1/auth/login", "", map[string]any{"email": "secret@example.com", "password": password})
	a.Post("/v1/auth/login", "", map[string]any{"email": "secret@example.com", "password": password + "-wrong"})
	a.Get("/v1/auth/me", token)
	a.Get("/v1/auth/me", token+"tampered")
	a.Do(apptest.Request{Method: "GET", Path: "/v1/projects", Token: token, Header: map[string]string{"Cookie": "session=cookie-secret"}})

	entries := a.Logs().All()
	require.NotEmpty(t, entries)
	for _, e := range entries {
		line, err := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		require.NoError(t, err)
		for _, secret := range []string{password, token, token[strings.LastIndexByte(token, '.')+1:], "cookie-secret"} {
			require.NotContains(t, string(line), secret, "a log entry carries a secret: %s", line)
		}
	}
}
