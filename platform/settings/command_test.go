package settings

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunCommand reads SLIPWAY_RUN_COMMAND in both forms: a JSON array as
// it is, shell words with their quotes, and never a value from the
// server's environment.
func TestRunCommand(t *testing.T) {
	t.Setenv("HOME", "/home/server")
	t.Setenv("SLIPWAY_AUTH_TOKEN_SECRET", "server-secret")
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`["codex","exec","--json"]`, []string{"codex", "exec", "--json"}},
		{` [ "sh", "-c", "echo $HOME; echo 'x'" ] `, []string{"sh", "-c", "echo $HOME; echo 'x'"}},
		{`["agent", ""]`, []string{"agent", ""}},
		{`codex exec --json`, []string{"codex", "exec", "--json"}},
		{`sh -c 'echo hi; echo there'`, []string{"sh", "-c", "echo hi; echo there"}},
		{`sh -c "echo \"quoted\" 'single'"`, []string{"sh", "-c", `echo "quoted" 'single'`}},
		{`sh -c 'echo "$HOME" $SLIPWAY_AUTH_TOKEN_SECRET'`, []string{"sh", "-c", `echo "$HOME" $SLIPWAY_AUTH_TOKEN_SECRET`}},
		{`agent run  $SLIPWAY_PROMPT`, []string{"agent", "run", "$SLIPWAY_PROMPT"}},
		{`agent "$SLIPWAY_PROMPT"`, []string{"agent", "$SLIPWAY_PROMPT"}},
		{`agent ${SLIPWAY_PROMPT}`, []string{"agent", "$SLIPWAY_PROMPT"}},
		{`agent 'two words' three\ four ""`, []string{"agent", "two words", "three four", ""}},
		{"agent \\\n  --flag", []string{"agent", "--flag"}},
		{`agent *.go`, []string{"agent", "*.go"}},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseCommand(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestRunCommandRefusals(t *testing.T) {
	t.Setenv("HOME", "/home/server")
	for in, want := range map[string]string{
		`sh -c 'echo hi`:          "is not shell words: 1:7: reached EOF without closing quote `'`",
		`agent "unterminated`:     "is not shell words: 1:7: reached EOF without closing quote `\"`",
		`agent $HOME`:             "expands $HOME",
		`agent "$HOME"`:           "expands $HOME",
		`agent ~/x`:               "expands $HOME",
		`agent ${X:-default}`:     "expands $X",
		`agent "$@"`:              "expands $@",
		`agent $(id)`:             "is not shell words",
		"agent `id`":              "is not shell words",
		`agent; rm -rf /`:         "is not shell words",
		`agent | tee`:             "is not shell words",
		`agent > /tmp/x`:          "is not shell words",
		`["codex", 1]`:            "is not a JSON array of strings",
		`["codex"`:                "is not a JSON array of strings",
		`[codex]`:                 "is not a JSON array of strings",
		`agent "$SLIPWAY_PROMPT`:  "reached EOF without closing quote",
		`agent $SLIPWAY_DATA_DIR`: "expands $SLIPWAY_DATA_DIR",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := parseCommand(in)
			require.Error(t, err)
			require.Contains(t, err.Error(), want)
			require.NotContains(t, err.Error(), "/home/server", "nothing of the server's environment")
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestRunCommandSettingErrors goes through Load: a bad command is one line
// naming SLIPWAY_RUN_COMMAND, and the YAML list form stays.
func TestRunCommandSettingErrors(t *testing.T) {
	for _, v := range []string{`sh -c 'echo hi`, `[]`, `[""]`, `["a\u0000b"]`, `   `} {
		t.Run(v, func(t *testing.T) {
			kv := map[string]string{"SLIPWAY_RUN_COMMAND": v}
			if strings.TrimSpace(v) == "" {
				kv = map[string]string{"SLIPWAY_RUN_COMMAND": "''"}
			}
			_, err := Load(env(kv))
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "setting SLIPWAY_RUN_COMMAND: "), err.Error())
			require.NotContains(t, err.Error(), "\n")
		})
	}
	s, err := Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, []string{"codex", "exec", "--json", "--color", "never", "--skip-git-repo-check", "--ephemeral",
		"--dangerously-bypass-approvals-and-sandbox", "-C", "/workspace", "--", "$SLIPWAY_PROMPT"}, s.Runs.Command, "configs/default.yaml's list")
}
