package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// safePATH is the only PATH host git sees: git finds its helpers through
	// its compiled-in exec path, ssh and nothing else through this.
	safePATH = "/usr/local/bin:/usr/bin:/bin"
	// defaultOutputLimit bounds stdout of every command but the patch.
	defaultOutputLimit = 1 << 20
	// stderrLimit bounds the error output kept for messages.
	stderrLimit = 16 << 10
	// waitDelay bounds how long Wait waits for output pipes after git exits
	// or is killed, in case a stray child keeps them open.
	waitDelay = 5 * time.Second
)

// errOutputLimit means a command wrote more than its stdout limit.
var errOutputLimit = errors.New("output limit exceeded")

// gitRun is one host-side git invocation.
type gitRun struct {
	runDir    string   // cwd, and parent of HOME; never mounted into the container
	gitDir    string   // explicit repository; "" only for clone
	workTree  string   // explicit work tree; with gitDir
	fileProto bool     // allow file:// (and local path) transport for this call
	config    []string // extra "key=value" settings, after the hardened ones
	env       []string // extra environment, e.g. GIT_INDEX_FILE
	maxOut    int64    // stdout limit; 0 means defaultOutputLimit
	args      []string // sub-command and its arguments
}

// hardenedConfig is passed with -c to every git command. Command-line
// settings win over every config file, so whatever a repository's config
// says, none of these can name a program to run. The private git dir's own
// config is written by clone alone; agent-written files are never config.
func (m *Manager) hardenedConfig(fileProto bool) []string {
	file := "never"
	if fileProto {
		file = "always"
	}
	cfg := []string{
		"core.hooksPath=/dev/null",
		"core.fsmonitor=false",
		"core.untrackedCache=false",
		"core.attributesFile=/dev/null",
		"core.excludesFile=/dev/null",
		"core.symlinks=true",
		"core.pager=cat",
		"core.askPass=",
		"credential.helper=",
		"diff.external=",
		"color.ui=false",
		"submodule.recurse=false",
		"fetch.recurseSubmodules=false",
		"gc.auto=0",
		"maintenance.auto=false",
		"init.templateDir=",
		"protocol.allow=never",
		"protocol.https.allow=always",
		"protocol.ssh.allow=always",
		"protocol.ext.allow=never",
		"protocol.file.allow=" + file,
		// A redirect names a host the URL policy never checked; git
		// would follow one to any host, even a private one.
		"http.followRedirects=false",
	}
	if m.cfg.CAFile != "" {
		cfg = append(cfg, "http.sslCAInfo="+m.cfg.CAFile)
	}
	return cfg
}

// gitEnv is the whole environment of a git command: nothing is inherited but
// proxy settings, so GIT_DIR, GIT_CONFIG_*, GIT_EXTERNAL_DIFF, PAGER and the
// like from the host process never reach git.
func (m *Manager) gitEnv(runDir string) []string {
	home := filepath.Join(runDir, "home")
	env := []string{
		"PATH=" + safePATH,
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"LC_ALL=C",
		"LANG=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_NO_REPLACE_OBJECTS=1",
		"GIT_SSH_COMMAND=" + m.cfg.SSHCommand,
		// Repository discovery, should any command attempt it, stops at
		// the run directory instead of climbing into whatever holds Root.
		"GIT_CEILING_DIRECTORIES=" + filepath.Dir(runDir),
	}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// git runs one git command and returns its stdout. It is the only place that
// starts git. The command is bounded by ctx; on cancellation its whole
// process group (git-remote-https, ssh, upload-pack …) is killed.
func (m *Manager) git(ctx context.Context, r gitRun) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	argv := []string{"--no-pager"}
	if r.gitDir != "" {
		argv = append(argv, "--git-dir="+r.gitDir, "--work-tree="+r.workTree)
	}
	for _, c := range append(m.hardenedConfig(r.fileProto), r.config...) {
		argv = append(argv, "-c", c)
	}
	argv = append(argv, r.args...)

	cmd := exec.CommandContext(ctx, m.gitPath, argv...)
	cmd.Dir = r.runDir
	cmd.Env = append(m.gitEnv(r.runDir), r.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative pid: the process group git leads.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	stderr := &tailBuffer{max: stderrLimit}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", r.args[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git %s: %w", r.args[0], err)
	}
	limit := r.maxOut
	if limit <= 0 {
		limit = defaultOutputLimit
	}
	out, readErr := io.ReadAll(io.LimitReader(stdout, limit+1))
	tooLarge := int64(len(out)) > limit
	if tooLarge {
		cancel()
	}
	waitErr := cmd.Wait()
	switch {
	case tooLarge:
		return nil, fmt.Errorf("git %s: %w (%d bytes)", r.args[0], errOutputLimit, limit)
	case waitErr != nil:
		if ctxErr := ctx.Err(); ctxErr != nil {
			waitErr = fmt.Errorf("%w (%w)", ctxErr, waitErr)
		}
		lines := m.cleanLines(stderr.String(), r.runDir)
		return nil, &gitError{cmd: r.args[0], stderr: m.clean(lines), lines: lines, err: waitErr}
	case readErr != nil:
		return nil, fmt.Errorf("git %s: read output: %w", r.args[0], readErr)
	}
	return out, nil
}

// cleanLines splits git's error output into lines without user
// information in URLs or host paths of the run directory.
func (m *Manager) cleanLines(s, runDir string) []string {
	s = redactText(s)
	if runDir != "" {
		s = strings.ReplaceAll(s, runDir+string(filepath.Separator), "")
		s = strings.ReplaceAll(s, runDir, "")
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Cloning into") {
			lines = append(lines, l)
		}
	}
	return lines
}

// clean joins cleaned lines into at most a few hundred characters for logs.
func (m *Manager) clean(lines []string) string {
	s := strings.Join(lines, "; ")
	const max = 600
	if len(s) > max {
		s = "…" + strings.ToValidUTF8(s[len(s)-max:], "")
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	if over := b.buf.Len() + len(p) - b.max; over > 0 {
		b.buf.Next(over)
	}
	b.buf.Write(p)
	return n, nil
}

func (b *tailBuffer) String() string { return b.buf.String() }
