package runs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAgentCannotMakeHostGitRunCommands has the agent plant git config and
// attributes that name commands (fsmonitor, hooks, external diff, filters,
// textconv) writing a marker on the host, then requires the run's patch to
// be computed without any of them running.
func TestAgentCannotMakeHostGitRunCommands(t *testing.T) {
	h := start(t)
	u := h.SignUp()
	repo := h.repo(t, u, map[string]string{"a.txt": "a\n"})
	marker := filepath.Join(t.TempDir(), "pwned")
	touch := "touch " + marker
	config := strings.Join([]string{
		`[core]`, `\tfsmonitor = ` + touch, `\thooksPath = .git/hooks`, `\tpager = ` + touch,
		`[diff]`, `\texternal = ` + touch,
		`[filter "evil"]`, `\tclean = ` + touch, `\tsmudge = ` + touch, `\trequired = true`,
		`[diff "evil"]`, `\ttextconv = ` + touch,
	}, `\n`) + `\n`
	script := "sh: mkdir -p .git/hooks && printf '" + config + "' > .git/config" +
		" && printf '#!/bin/sh\\n" + touch + "\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit" +
		" && printf '* filter=evil diff=evil\\n' > .gitattributes && echo b >> a.txt && cat .git/config"

	r := h.create(t, u, repo.ID, map[string]any{"prompt": script})
	done := h.wait(t, u, r.ID, terminal)
	require.Equal(t, "succeeded", done.Status, "error: %v", done.Error)
	log := string(h.Get("/v1/runs/"+r.ID+"/logs", u.Token).Body)
	require.Contains(t, log, "fsmonitor = "+touch, "the agent did write the hostile config")

	patch := string(h.Get("/v1/runs/"+r.ID+"/patch", u.Token).Body)
	require.Contains(t, patch, " a\n+b\n")
	require.Contains(t, patch, "+* filter=evil diff=evil\n")
	require.NotContains(t, patch, ".git/config")
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "host git ran an agent-configured command")
}
