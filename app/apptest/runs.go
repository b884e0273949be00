package apptest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// WithRuns points runs at the local Docker engine (the test's DOCKER_HOST
// or the default socket) with image and command, no network, the nobody
// user and small limits. Without a command, the configured one stays (the
// default: Codex).
func WithRuns(image string, command ...string) Option {
	return func(s *settings.Settings) {
		s.Docker.Host = containertest.Host()
		s.Runs.Image = image
		if len(command) > 0 {
			s.Runs.Command = command
		}
		s.Runs.Network = "none"
		s.Runs.User = "65534:65534"
		s.Runs.MemoryBytes = 256 << 20
		s.Runs.PidsLimit = 128
		s.Runs.StopGrace = 2 * time.Second
	}
}

// WithoutDocker points the runtime at a socket that does not exist.
func WithoutDocker(t testing.TB) Option {
	dir, err := os.MkdirTemp("", "nodocker")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return func(s *settings.Settings) { s.Docker.Host = "unix://" + filepath.Join(dir, "absent.sock") }
}

// RunImage returns the busybox test image on the local engine, skipping
// the test (failing under CI) when Docker is absent.
func RunImage(t testing.TB) (*containers.Runtime, string) {
	t.Helper()
	rt := containertest.Runtime(t, containers.Config{})
	return rt, containertest.Image(t, rt)
}

// GitRepo makes a git repository with files committed on branch main in a
// temporary directory and returns its file:// URL.
func GitRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	}
	git("init", "--quiet", "--initial-branch=main")
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	git("add", "--all")
	git("commit", "--quiet", "-m", "initial")
	return "file://" + dir
}

// Run is the wire form of a run, for tests.
type Run struct {
	ID             string     `json:"id"`
	ProjectID      string     `json:"project_id"`
	RepositoryID   string     `json:"repository_id"`
	Status         string     `json:"status"`
	Prompt         string     `json:"prompt"`
	Branch         *string    `json:"branch"`
	TimeoutSeconds int        `json:"timeout_seconds"`
	ExitCode       *int       `json:"exit_code"`
	Error          *string    `json:"error"`
	Warnings       []string   `json:"warnings"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	LogTruncated   bool       `json:"log_truncated"`
}

// GetRun reads a run as token's user.
func (a *App) GetRun(token, id string) Run {
	a.t.Helper()
	res := a.Get("/v1/runs/"+id, token)
	require.Equal(a.t, http.StatusOK, res.Status, "get run: %s", res.Body)
	var r Run
	res.Decode(a.t, &r)
	return r
}

// WaitRun waits until the run's status satisfies done and returns it.
func (a *App) WaitRun(token, id string, timeout time.Duration, done func(status string) bool) Run {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := a.GetRun(token, id)
		if done(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("run %s is still %s after %s", id, r.Status, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Terminal reports whether a run status is final.
func Terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "canceled", "timed_out", "interrupted":
		return true
	}
	return false
}
