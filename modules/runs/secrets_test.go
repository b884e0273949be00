package runs_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecretsReachTheAgentMaskedInTheLog gives a project a secret and runs
// an agent that prints it whole and in two writes split inside the value,
// and writes it into the repository: the agent had the value, the log
// shows only [secret:API_KEY], the patch keeps the agent's change and the
// run warns about it, and no server log line holds the value.
func TestSecretsReachTheAgentMaskedInTheLog(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"README.md": "# demo\n"})
	const value = "sk-live-0123456789abcdef"
	h.putSecret(t, u, repo.ProjectID, "API_KEY", value)

	r := h.create(t, u, repo.ID, map[string]any{"prompt": `sh: printf 'whole=%s\n' "$API_KEY"; ` +
		`printf 'split=%s' "${API_KEY%????????????}"; printf '%s\n' "${API_KEY#????????????}"; ` +
		`echo "length=${#API_KEY}"; echo "$API_KEY" >> README.md`})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)
	require.Equal(t, []string{"the patch contains the value of secret API_KEY"}, done.Warnings)

	logs := string(h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body)
	require.Equal(t, "start\nwhole=[secret:API_KEY]\nsplit=[secret:API_KEY]\nlength=24\ndone\n", logs)
	require.NotContains(t, logs, value[:12])
	require.NotContains(t, logs, value[12:])

	patch := string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body)
	require.Contains(t, patch, "+"+value+"\n", "the patch is the agent's work, kept as it is")

	for _, e := range h.Logs().All() {
		line, err := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		require.NoError(t, err)
		require.NotContains(t, string(line), value, "a server log entry holds the secret: %s", line)
	}

	// A run that leaves no value in its patch has no warnings: [] on the wire.
	r = h.create(t, u, repo.ID, map[string]any{"prompt": "sh: true"})
	require.Equal(t, "succeeded", h.wait(t, u, r.ID, terminal).Status)
	res := h.Get("/v1/runs/"+r.ID, u.Token)
	require.Equal(t, []any{}, res.JSON(t)["warnings"])
}
