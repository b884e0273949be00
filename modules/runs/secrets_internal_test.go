package runs

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/settings"
)

// TestSecretsInTheContainerEnvironment builds a container's environment
// from secrets as a store might hold them, reserved names included (the
// write-time check may have been older, or bypassed): none replaces
// SLIPWAY_PROMPT, PATH, HOME, the proxy variables or the loader's, in any
// case, nor a variable the operator passes on; each one left out says why.
func TestSecretsInTheContainerEnvironment(t *testing.T) {
	t.Setenv("OPERATOR_SET", "the operator's")
	w := &Worker{cfg: settings.Runs{Image: "agent:1", Command: []string{"agent", "$SLIPWAY_PROMPT"},
		EnvAllowlist: []string{"OPERATOR_SET", "OPERATOR_UNSET"}}, self: Instance{ID: "ins_x"}}
	var secrets []access.Secret
	reserved := []string{"SLIPWAY_PROMPT", "SLIPWAY_AUTH_TOKEN_SECRET", "PATH", "path", "HOME", "HTTP_PROXY", "http_proxy",
		"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "LD_PRELOAD", "ld_library_path", "SHELL"}
	for _, name := range reserved {
		secrets = append(secrets, access.Secret{Name: name, Value: "from a secret"})
	}
	secrets = append(secrets, access.Secret{Name: "API_KEY", Value: "sk-1234"},
		access.Secret{Name: "OPERATOR_SET", Value: "the secret's"}, access.Secret{Name: "OPERATOR_UNSET", Value: "the secret's"})

	env, warnings := w.secretEnv(secrets)
	spec := w.spec(&Run{ID: "run_x", Prompt: "the run's prompt"}, "/tmp/ws", env)
	require.Equal(t, map[string]string{
		"API_KEY":        "sk-1234",
		"OPERATOR_SET":   "the operator's",
		"OPERATOR_UNSET": "the secret's",
		"SLIPWAY_PROMPT": "the run's prompt",
	}, spec.Env)
	require.Equal(t, []string{"agent", "the run's prompt"}, spec.Cmd)
	for _, name := range reserved {
		require.Contains(t, warnings, "secret "+name+" was not set: the name is reserved")
	}
	require.Contains(t, warnings, "secret OPERATOR_SET was not set: the server sets OPERATOR_SET")
	require.Len(t, warnings, len(reserved)+1)

	require.Equal(t, map[string]string{"OPERATOR_SET": "the operator's", "SLIPWAY_PROMPT": "p"}, w.spec(&Run{Prompt: "p"}, "/tmp/ws", nil).Env, "no secrets")
}

func TestPatchWarnings(t *testing.T) {
	patch := []byte("diff --git a/config b/config\n+token = sk-live-123\n+other = ab\n+{\"pem\": \"line1\\nline2\"}\n")
	secrets := []access.Secret{{Name: "API_KEY", Value: "sk-live-123"}, {Name: "UNUSED", Value: "not in the patch"}, {Name: "EMPTY"},
		{Name: "PEM", Value: "line1\nline2"}}
	require.Equal(t, []string{"the patch contains the value of secret API_KEY", "the patch contains the value of secret PEM"},
		patchWarnings(patch, secrets), "as it is, or escaped in a JSON string")
	require.Empty(t, patchWarnings(patch, nil))
}

// TestLogIsMasked writes a secret's value into the run's log through the
// masking writer in two pieces: the log holds its name, never the value.
func TestLogIsMasked(t *testing.T) {
	x := &execution{}
	x.setSecrets([]access.Secret{{Name: "API_KEY", Value: "sk-live-123"}})
	var log bytes.Buffer
	m := x.maskSecrets(&log)
	_, err := m.Write([]byte("key: sk-li"))
	require.NoError(t, err)
	_, err = m.Write([]byte("ve-123\n"))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.Equal(t, "key: [secret:API_KEY]\n", log.String())
}

// noSecrets is a project without secrets, for tests that build a Worker
// by hand.
type noSecrets struct{}

func (noSecrets) RunSecrets(context.Context, string) ([]access.Secret, error) { return nil, nil }
