// Package workspace prepares git workspaces for agent runs and computes the
// agent's patch, treating everything the agent can write as hostile.
//
// Each run gets a directory under Config.Root:
//
//	<Root>/<runID>/git   the real git dir; host-only, never mounted
//	<Root>/<runID>/tree  the checkout; mounted read-write at /workspace
//	<Root>/<runID>/home  an empty HOME for host git
//	<Root>/<runID>/tmp   the temporary index used to compute the patch
//
// Config.MaxBytes and MaxFiles bound all of it. In ModeMount the run
// directory is a filesystem of its own, made from the sparse image
// <Root>/<runID>.img, so the kernel holds the limits; in ModeScan the
// workspace is measured by walking it (see Workspace.Check).
//
// The clone uses --separate-git-dir and the .git file it leaves in the tree
// is deleted, so nothing in the tree points at host git metadata (with
// Config.AgentGit the agent gets its own disposable copy instead). Every git
// command goes through one function that passes the git dir and work tree
// explicitly, runs from the host-only run directory, builds the environment
// from scratch (no system or global config, empty HOME, no prompts) and
// overrides with -c every setting that could name a program. Agent-written
// .git directories or files, .gitattributes and .gitmodules therefore never
// make host git run anything, and the host never follows a symlink the agent
// planted.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// DefaultMaxPatchBytes is the patch size limit when Config.MaxPatchBytes is 0.
const DefaultMaxPatchBytes = 64 << 20

// DefaultSSHCommand is the ssh command when Config.SSHCommand is empty:
// BatchMode makes ssh fail instead of prompting for a password or a host key.
const DefaultSSHCommand = "ssh -o BatchMode=yes"

// runIDRE is what a run id may look like: one safe path component.
var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// Config configures a Manager.
type Config struct {
	// Root holds one directory per run. Created on first use with mode 0700.
	Root string
	// AllowFile allows file:// URLs and absolute local paths (local and test
	// settings only: a local source repository is trusted more than a remote).
	AllowFile bool
	// GitPath is the git binary; "" finds git on PATH once, in NewManager.
	GitPath string
	// MaxPatchBytes bounds a patch; 0 means DefaultMaxPatchBytes.
	MaxPatchBytes int64
	// OwnerUID and OwnerGID are the container's user. When this process runs
	// as root the tree is chowned to them; otherwise the tree is made
	// world-writable (run the container as this process's uid in that case,
	// or files the agent creates in new directories cannot be removed).
	OwnerUID, OwnerGID int
	// CloneTimeout bounds a clone on top of Prepare's ctx; 0 means ctx only.
	CloneTimeout time.Duration
	// FullHistory clones every commit of the branch instead of only its tip.
	// The patch needs only the tip; full history costs time and disk.
	FullHistory bool
	// AgentGit gives the agent a disposable copy of the repository metadata
	// at /workspace/.git, because coding agents expect a git repository (some
	// refuse to start without one). The host never reads it: the real git dir
	// stays outside the tree and Patch deletes the copy first.
	AgentGit bool
	// SSHCommand is the command git uses for ssh remotes, e.g. with "-i key
	// -o UserKnownHostsFile=…"; "" means DefaultSSHCommand.
	SSHCommand string
	// CAFile, if set, is a PEM bundle of certificate authorities for https
	// remotes.
	CAFile string
	// MaxBytes and MaxFiles bound each workspace: the clone, its git
	// metadata and everything the agent writes; 0 means no bound. Check
	// and Measure report a workspace that reached one.
	MaxBytes int64
	MaxFiles int64
	// Mode is how the limits hold: ModeAuto (""), ModeMount or ModeScan.
	Mode string
	// MaxTreeDepth bounds how deep directories may nest in a tree that
	// Prepare hands over or Patch scrubs; 0 means DefaultMaxTreeDepth.
	// Removing a workspace has no such bound.
	MaxTreeDepth int
	// MaxTreeEntries bounds the entries of such a tree; 0 means
	// DefaultMaxTreeEntries.
	MaxTreeEntries int
}

// Manager prepares and removes workspaces under one root. It is safe for
// concurrent use.
type Manager struct {
	cfg     Config
	gitPath string

	probeOnce sync.Once
	mode      string // ModeMount or ModeScan, once probed
	modeNote  string // why ModeAuto chose ModeScan
	probeErr  error

	mu sync.Mutex
	// live holds the run ids with a workspace from this manager: nil while
	// it is prepared or removed, the workspace in between.
	live map[string]*Workspace
}

// NewManager validates cfg. It does no I/O beyond locating git.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		return nil, errors.New("workspace: root is required")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("workspace: root: %w", err)
	}
	cfg.Root = root
	if cfg.MaxPatchBytes < 0 {
		return nil, errors.New("workspace: max patch bytes must not be negative")
	}
	if cfg.MaxPatchBytes == 0 {
		cfg.MaxPatchBytes = DefaultMaxPatchBytes
	}
	if cfg.CloneTimeout < 0 {
		return nil, errors.New("workspace: clone timeout must not be negative")
	}
	if cfg.MaxTreeDepth < 0 || cfg.MaxTreeEntries < 0 {
		return nil, errors.New("workspace: tree limits must not be negative")
	}
	if cfg.MaxTreeDepth == 0 {
		cfg.MaxTreeDepth = DefaultMaxTreeDepth
	}
	if cfg.MaxTreeEntries == 0 {
		cfg.MaxTreeEntries = DefaultMaxTreeEntries
	}
	if os.Geteuid() == 0 && (cfg.OwnerUID <= 0 || cfg.OwnerGID <= 0) {
		return nil, errors.New("workspace: owner uid and gid must be set to the container's unprivileged user when running as root")
	}
	if cfg.SSHCommand == "" {
		cfg.SSHCommand = DefaultSSHCommand
	}
	if cfg.CAFile != "" && !filepath.IsAbs(cfg.CAFile) {
		return nil, errors.New("workspace: ca file must be an absolute path")
	}
	if cfg.MaxBytes < 0 || cfg.MaxFiles < 0 {
		return nil, errors.New("workspace: limits must not be negative")
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeAuto
	case ModeAuto, ModeScan:
	case ModeMount:
		if cfg.MaxBytes == 0 {
			return nil, errors.New("workspace: mode mount needs a byte limit (the size of each workspace filesystem)")
		}
	default:
		return nil, fmt.Errorf("workspace: mode %q is not auto, mount or scan", cfg.Mode)
	}
	gitPath := cfg.GitPath
	if gitPath == "" {
		gitPath = "git"
	}
	if gitPath, err = exec.LookPath(gitPath); err != nil {
		return nil, fmt.Errorf("workspace: git: %w", err)
	}
	if gitPath, err = filepath.Abs(gitPath); err != nil {
		return nil, fmt.Errorf("workspace: git: %w", err)
	}
	return &Manager{cfg: cfg, gitPath: gitPath, live: map[string]*Workspace{}}, nil
}

// Workspace is one run's clone. Mount TreeDir at /workspace; call Patch after
// the container has exited, then Remove.
type Workspace struct {
	m      *Manager
	runID  string
	dir    string
	gitDir string
	tree   string
	branch string
	base   string

	// mounted is set when dir is the workspace's own filesystem, made
	// from image (ModeMount).
	mounted bool
	image   string
	used    atomic.Int64 // bytes at the last walk (ModeScan)

	mu      sync.Mutex
	removed bool
	scan    scanState // the last walk (ModeScan)
}

// TreeDir is the directory to mount read-write at /workspace.
func (w *Workspace) TreeDir() string { return w.tree }

// Branch is the branch checked out: the one asked for, or the remote's default.
func (w *Workspace) Branch() string { return w.branch }

// BaseCommit is the commit the tree was checked out at; "" for a repository
// without commits.
func (w *Workspace) BaseCommit() string { return w.base }

// RunID is the run the workspace belongs to.
func (w *Workspace) RunID() string { return w.runID }

// Prepare clones url (branch "" means the remote's default branch) into a new
// workspace for runID and hands the tree to the container's user. Clone
// failures are *CloneError values whose Message can be shown to the user.
// A runID that already has a directory under Root is a conflict: call
// RemoveStale at start-up to clear what a crash left. A clone that does not
// fit the limits is a CloneError of ReasonTooLarge wrapping the
// *LimitError; when the free disk cannot hold one more workspace on top of
// those in use, Prepare fails with ErrNoRoom.
//
// An https or ssh URL whose host is a name needs Pin with the addresses the
// caller's URL policy checked: git connects to those only (see pin.go).
func (m *Manager) Prepare(ctx context.Context, runID, url, branch string, opts ...PrepareOption) (_ *Workspace, err error) {
	defer derrors.Wrap(&err, "workspace.Prepare(%q)", runID)
	if !runIDRE.MatchString(runID) {
		return nil, errors.New("invalid run id")
	}
	var o prepareOptions
	for _, opt := range opts {
		opt(&o)
	}
	redacted := RedactURL(url)
	remote, err := ParseURL(url, m.cfg.AllowFile)
	if r := CheckBranch(branch); err == nil && r != "" {
		err = fmt.Errorf("%w: branch name %q %s", ErrURLNotAllowed, branch, r)
	}
	var p pin
	if err == nil {
		p, err = m.pinFor(remote, o.pinned)
	}
	if err != nil {
		return nil, &CloneError{Reason: ReasonRefused, URL: redacted, Branch: branch, Err: err}
	}
	mode, _, err := m.Probe(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.cfg.Root, 0o700); err != nil {
		return nil, err
	}
	if err := m.claimNew(runID); err != nil {
		return nil, err
	}
	dir, image := filepath.Join(m.cfg.Root, runID), m.imagePath(runID)
	defer func() {
		if err != nil && dir != "" {
			if rmErr := removeRun(dir, image); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("clean up: %w", rmErr))
			}
		}
		if err != nil {
			m.release(runID)
		}
	}()
	if _, err := os.Lstat(image); err == nil {
		dir = "" // not ours: leave it for RemoveStale, do not delete it on the way out
		return nil, derrors.Conflict("workspace "+runID, errors.New("image left by an earlier run"))
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			dir = ""
			return nil, derrors.Conflict("workspace "+runID, errors.New("directory left by an earlier run"))
		}
		return nil, err
	}
	w := &Workspace{
		m:      m,
		runID:  runID,
		dir:    dir,
		gitDir: filepath.Join(dir, "git"),
		tree:   filepath.Join(dir, "tree"),
	}
	if mode == ModeMount {
		if err := m.mount(ctx, dir, image); err != nil {
			return nil, err
		}
		w.mounted, w.image = true, image
	}
	for _, sub := range []string{"home", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if err := m.clone(ctx, w, url, redacted, remote.Transport, branch, p); err != nil {
		var ce *CloneError
		if _, le, _ := w.measure(ctx); le != nil && errors.As(err, &ce) {
			ce.Reason, ce.Err = ReasonTooLarge, le
		}
		return nil, err
	}
	if err := m.resolve(ctx, w, branch); err != nil {
		return nil, err
	}
	// The gitfile clone left would point the agent at the host git dir.
	if err := os.Remove(filepath.Join(w.tree, ".git")); err != nil {
		return nil, fmt.Errorf("remove gitfile: %w", err)
	}
	if m.cfg.AgentGit {
		if err := m.agentGit(ctx, w, redacted); err != nil {
			return nil, err
		}
	}
	if os.Geteuid() == 0 {
		err = chownTree(ctx, w.tree, m.cfg.OwnerUID, m.cfg.OwnerGID, m.treeLimits())
	} else if m.cfg.OwnerUID != os.Geteuid() {
		err = openTree(ctx, w.tree, m.treeLimits())
	}
	if err != nil {
		return nil, fmt.Errorf("hand tree to uid %d: %w", m.cfg.OwnerUID, err)
	}
	if _, le, err := w.measure(ctx); err != nil {
		return nil, err
	} else if le != nil {
		return nil, &CloneError{Reason: ReasonTooLarge, URL: redacted, Branch: branch, Err: le}
	}
	m.opened(w)
	return w, nil
}

// treeLimits are the bounds of a walk over a tree.
func (m *Manager) treeLimits() treeLimits {
	return treeLimits{depth: m.cfg.MaxTreeDepth, entries: m.cfg.MaxTreeEntries}
}

// clone runs git clone into w, connecting as p says.
func (m *Manager) clone(ctx context.Context, w *Workspace, url, redacted, transport, branch string, p pin) error {
	if m.cfg.CloneTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.CloneTimeout)
		defer cancel()
	}
	args := []string{"clone", "--quiet", "--no-recurse-submodules", "--no-local", "--no-hardlinks",
		"--template=", "--single-branch", "--separate-git-dir=" + w.gitDir}
	if !m.cfg.FullHistory {
		args = append(args, "--depth=1")
	}
	if branch != "" {
		args = append(args, "--branch="+branch)
	}
	args = append(args, "--", url, w.tree)
	_, err := m.git(ctx, gitRun{runDir: w.dir, fileProto: transport == "file", config: p.config, env: p.env, args: args})
	if err == nil {
		return nil
	}
	ce := &CloneError{URL: redacted, Branch: branch, Err: err}
	var ge *gitError
	if errors.As(err, &ge) {
		ce.Output = strings.ReplaceAll(ge.stderr, url, redacted)
		ce.Err = ge.err
	}
	var lines []string
	if ge != nil {
		lines = ge.lines
	}
	ce.Reason, ce.Detail = classify(strings.Join(lines, "\n"), ctx.Err())
	return ce
}

// resolve records the checked-out branch and commit.
func (m *Manager) resolve(ctx context.Context, w *Workspace, branch string) error {
	out, err := m.git(ctx, w.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}"))
	var ge *gitError
	switch {
	case err == nil:
		w.base = strings.TrimSpace(string(out))
	case errors.As(err, &ge) && exitCode(ge.err) == 1 && ge.stderr == "":
		// An empty repository: HEAD is unborn and the patch starts from
		// the empty tree.
	default:
		return fmt.Errorf("resolve commit: %w", err)
	}
	w.branch = branch
	if out, err := m.git(ctx, w.run("symbolic-ref", "--quiet", "--short", "HEAD")); err == nil {
		w.branch = strings.TrimSpace(string(out))
	} else if branch == "" {
		return fmt.Errorf("resolve branch: %w", err)
	}
	return nil
}

// agentGit gives the agent its own copy of the repository at tree/.git,
// cloned from the private git dir: objects copied, not linked, the origin
// URL set to the redacted remote. Built before the agent starts, it is
// trusted until then and ignored after.
func (m *Manager) agentGit(ctx context.Context, w *Workspace, redacted string) error {
	tmp := filepath.Join(w.dir, "agent")
	_, err := m.git(ctx, gitRun{runDir: w.dir, fileProto: true, args: []string{
		"clone", "--quiet", "--no-checkout", "--no-recurse-submodules", "--no-hardlinks",
		"--template=", "--", w.gitDir, tmp,
	}})
	if err != nil {
		return fmt.Errorf("agent git: %w", err)
	}
	agentDir := filepath.Join(tmp, ".git")
	agent := gitRun{runDir: w.dir, gitDir: agentDir, workTree: w.tree}
	for _, args := range [][]string{
		{"config", "remote.origin.url", redacted},
		{"reset", "--quiet", "--mixed"}, // index of HEAD, matching the checked-out files
	} {
		agent.args = args
		if _, err := m.git(ctx, agent); err != nil {
			return fmt.Errorf("agent git: %w", err)
		}
	}
	// The reflog names the host path the copy came from.
	if err := os.RemoveAll(filepath.Join(agentDir, "logs")); err != nil {
		return fmt.Errorf("agent git: %w", err)
	}
	if err := os.Rename(agentDir, filepath.Join(w.tree, ".git")); err != nil {
		return fmt.Errorf("agent git: %w", err)
	}
	return os.Remove(tmp)
}

// exitCode is the exit status in err, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// run is a command on the workspace's private git dir and tree.
func (w *Workspace) run(args ...string) gitRun {
	return gitRun{runDir: w.dir, gitDir: w.gitDir, workTree: w.tree, args: args}
}

// Remove deletes the workspace. It never follows symlinks out of it and
// removes files and directories the container made read-only, however deep
// the tree: no tree limit applies, and there is no deadline, as the
// workspace must go; the cost is linear in its entries, with a bounded
// number of open directories. It is idempotent.
func (w *Workspace) Remove() (err error) {
	defer derrors.Wrap(&err, "workspace.Remove(%q)", w.runID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return nil
	}
	if err := removeRun(w.dir, w.m.imagePath(w.runID)); err != nil {
		return err
	}
	w.removed = true
	w.m.release(w.runID)
	return nil
}

// RemoveStale removes run directories (unmounting their filesystems) and
// filesystem images under Root left by an earlier process, except those
// keep reports true for and those of workspaces this Manager prepared and
// has not removed. Entries that cannot be run directories or images are
// left alone.
func (m *Manager) RemoveStale(keep func(runID string) bool) (err error) {
	defer derrors.Wrap(&err, "workspace.RemoveStale")
	entries, err := os.ReadDir(m.cfg.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() {
			id = strings.TrimSuffix(id, imageSuffix)
			if id == e.Name() || !e.Type().IsRegular() {
				continue
			}
		}
		if strings.HasPrefix(id, probePrefix) && e.IsDir() {
			// A probe that a crash interrupted (not one under way in
			// another instance sharing Root).
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
			if err := removeRun(filepath.Join(m.cfg.Root, id), filepath.Join(m.cfg.Root, id+imageSuffix)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
			}
			continue
		}
		if !runIDRE.MatchString(id) || (keep != nil && keep(id)) || !m.claim(id) {
			continue
		}
		if err := removeRun(filepath.Join(m.cfg.Root, id), m.imagePath(id)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		m.release(id)
	}
	return errors.Join(errs...)
}

// claim marks runID as in use; false if it already is.
func (m *Manager) claim(runID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[runID]; ok {
		return false
	}
	m.live[runID] = nil
	return true
}

// claimNew claims runID for a new workspace when the disk has room for it.
func (m *Manager) claimNew(runID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[runID]; ok {
		return derrors.Conflict("workspace "+runID, errors.New("already in use"))
	}
	if err := m.checkRoom(); err != nil {
		return err
	}
	m.live[runID] = nil
	return nil
}

// opened records a prepared workspace, for checkRoom.
func (m *Manager) opened(w *Workspace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[w.runID] = w
}

func (m *Manager) release(runID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, runID)
}
