package workspace

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func TestNewManager(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no root", Config{OwnerUID: 1, OwnerGID: 1}, "root is required"},
		{"negative patch limit", Config{Root: "/x", MaxPatchBytes: -1, OwnerUID: 1, OwnerGID: 1}, "max patch bytes"},
		{"negative timeout", Config{Root: "/x", CloneTimeout: -1, OwnerUID: 1, OwnerGID: 1}, "clone timeout"},
		{"negative tree depth", Config{Root: "/x", MaxTreeDepth: -1, OwnerUID: 1, OwnerGID: 1}, "tree limits"},
		{"negative tree entries", Config{Root: "/x", MaxTreeEntries: -1, OwnerUID: 1, OwnerGID: 1}, "tree limits"},
		{"relative ca file", Config{Root: "/x", CAFile: "ca.pem", OwnerUID: 1, OwnerGID: 1}, "ca file"},
		{"missing git", Config{Root: "/x", GitPath: "/nonexistent/git", OwnerUID: 1, OwnerGID: 1}, "git"},
		{"ok", Config{Root: "rel/root", OwnerUID: 1, OwnerGID: 1}, ""},
	}
	if os.Geteuid() == 0 {
		tests = append(tests, struct {
			name    string
			cfg     Config
			wantErr string
		}{"root without owner", Config{Root: "/x"}, "owner uid"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManager(tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, filepath.IsAbs(m.cfg.Root))
			require.True(t, filepath.IsAbs(m.gitPath))
			require.EqualValues(t, DefaultMaxPatchBytes, m.cfg.MaxPatchBytes)
			require.Equal(t, DefaultSSHCommand, m.cfg.SSHCommand)
			require.Equal(t, treeLimits{depth: DefaultMaxTreeDepth, entries: DefaultMaxTreeEntries}, m.treeLimits())
			_, err = os.Stat(m.cfg.Root)
			require.ErrorIs(t, err, fs.ErrNotExist, "NewManager must not create the root")
		})
	}
}

func TestPrepare(t *testing.T) {
	src := newSource(t)
	srcDir := strings.TrimPrefix(src, "file://")
	tests := []struct {
		name, url, branch, wantBranch, wantFile string
		agentGit                                bool
	}{
		{name: "default branch", url: src, wantBranch: "main", wantFile: "README.md"},
		{name: "named branch", url: src, branch: "feature", wantBranch: "feature", wantFile: "feature.txt"},
		{name: "local path", url: srcDir, wantBranch: "main", wantFile: "README.md"},
		{name: "tag", url: src, branch: "v1.0", wantBranch: "v1.0", wantFile: "feature.txt"},
		{name: "agent git", url: src, branch: "feature", wantBranch: "feature", wantFile: "feature.txt", agentGit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.AgentGit = tt.agentGit })
			w := prepare(t, m, "run_1", tt.url, tt.branch)

			require.Equal(t, tt.wantBranch, w.Branch())
			require.Equal(t, strings.TrimSpace(testGit(t, srcDir, "rev-parse", tt.wantBranch)), w.BaseCommit())
			require.FileExists(t, filepath.Join(w.TreeDir(), tt.wantFile))
			target, err := os.Readlink(filepath.Join(w.TreeDir(), "link"))
			require.NoError(t, err)
			require.Equal(t, "README.md", target, "symlinks are checked out as symlinks")

			// The real git dir lives outside the mounted tree.
			rel, err := filepath.Rel(w.TreeDir(), w.gitDir)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(rel, ".."), "git dir %s is inside the tree", w.gitDir)
			require.DirExists(t, filepath.Join(w.gitDir, "objects"))

			// Nothing in the tree names a host path, and everything in it
			// belongs to the container's user.
			require.NoError(t, filepath.WalkDir(w.TreeDir(), func(p string, d fs.DirEntry, err error) error {
				require.NoError(t, err)
				info, err := os.Lstat(p)
				require.NoError(t, err)
				st := info.Sys().(*syscall.Stat_t)
				if os.Geteuid() == 0 {
					require.Equal(t, []uint32{testUID, testGID}, []uint32{st.Uid, st.Gid}, p)
				}
				if d.Type().IsRegular() {
					b, err := os.ReadFile(p)
					require.NoError(t, err)
					require.NotContains(t, string(b), w.dir, "%s names the host run directory", p)
				}
				return nil
			}))
			_, err = os.Lstat(filepath.Join(w.TreeDir(), ".git"))
			if tt.agentGit {
				require.NoError(t, err)
				require.Empty(t, testGit(t, w.TreeDir(), "-c", "safe.directory=*", "status", "--porcelain"), "the agent's repository matches its tree")
				require.Equal(t, tt.url+"\n", testGit(t, w.TreeDir(), "-c", "safe.directory=*", "remote", "get-url", "origin"))
				require.Equal(t, w.BaseCommit()+"\n", testGit(t, w.TreeDir(), "-c", "safe.directory=*", "rev-parse", "HEAD"))
			} else {
				require.ErrorIs(t, err, fs.ErrNotExist)
			}
			info, err := os.Stat(w.dir)
			require.NoError(t, err)
			require.Equal(t, fs.FileMode(0o700), info.Mode().Perm())
		})
	}
}

func TestPrepareErrors(t *testing.T) {
	src := newSource(t)
	missing := "file://" + filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name       string
		allowFile  bool
		runID, url string
		branch     string
		reason     CloneReason
		is         error
		msg        string
	}{
		{"missing branch", true, "r1", src, "nope", ReasonBranchNotFound, derrors.ErrNotFound, `branch "nope" not found in repository file://`},
		{"missing repository", true, "r1", missing, "", ReasonNotFound, derrors.ErrNotFound, "not found"},
		{"file url refused", false, "r1", src, "", ReasonRefused, ErrURLNotAllowed, "file:// urls are not allowed"},
		{"local path refused", false, "r1", strings.TrimPrefix(src, "file://"), "", ReasonRefused, ErrURLNotAllowed, "local paths are not allowed"},
		{"remote helper refused", true, "r1", "ext::sh -c touch% /tmp/pwned", "", ReasonRefused, ErrURLNotAllowed, "remote helper"},
		{"option as branch", true, "r1", src, "--upload-pack=touch /tmp/pwned", ReasonRefused, ErrURLNotAllowed, `must not start with "-"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, func(c *Config) { c.AllowFile = tt.allowFile })
			w, err := m.Prepare(t.Context(), tt.runID, tt.url, tt.branch)
			require.Nil(t, w)
			var ce *CloneError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.reason, ce.Reason, "%v", err)
			require.ErrorIs(t, err, tt.is)
			require.Contains(t, ce.Message(), tt.msg)
			require.NotContains(t, ce.Message(), m.cfg.Root, "messages must not name host paths")
			require.Empty(t, entries(t, m.cfg.Root), "a failed Prepare leaves nothing behind")
			m.mu.Lock()
			require.Empty(t, m.live)
			m.mu.Unlock()
		})
	}
	t.Run("invalid run id", func(t *testing.T) {
		m := newManager(t, nil)
		for _, id := range []string{"", "..", "../x", "a/b", ".hidden", strings.Repeat("a", 129)} {
			_, err := m.Prepare(t.Context(), id, src, "")
			require.ErrorContains(t, err, "invalid run id", id)
		}
	})
}

func TestPrepareConflict(t *testing.T) {
	src := newSource(t)
	m := newManager(t, nil)
	w := prepare(t, m, "run_1", src, "")

	_, err := m.Prepare(t.Context(), "run_1", src, "")
	require.ErrorIs(t, err, derrors.ErrConflict)
	require.FileExists(t, filepath.Join(w.TreeDir(), "README.md"), "the live workspace is untouched")

	// A directory a crashed process left is a conflict too, until RemoveStale.
	require.NoError(t, os.MkdirAll(filepath.Join(m.cfg.Root, "run_2", "tree"), 0o700))
	_, err = m.Prepare(t.Context(), "run_2", src, "")
	require.ErrorIs(t, err, derrors.ErrConflict)
	require.DirExists(t, filepath.Join(m.cfg.Root, "run_2", "tree"), "Prepare must not delete what it did not create")
	require.NoError(t, m.RemoveStale(nil))
	prepare(t, m, "run_2", src, "")
}

func TestRemoveStale(t *testing.T) {
	src := newSource(t)
	m := newManager(t, nil)
	require.NoError(t, m.RemoveStale(nil), "a missing root is not an error")
	live := prepare(t, m, "live", src, "")
	for _, id := range []string{"crashed_1", "crashed_2", "kept"} {
		dir := filepath.Join(m.cfg.Root, id, "tree", "ro")
		writeFile(t, filepath.Join(dir, "f"), "x", 0o444)
		require.NoError(t, os.Chmod(dir, 0o555))
	}
	writeFile(t, filepath.Join(m.cfg.Root, "not a run.txt"), "x", 0o644)

	require.NoError(t, m.RemoveStale(func(id string) bool { return id == "kept" }))

	require.NoDirExists(t, filepath.Join(m.cfg.Root, "crashed_1"))
	require.NoDirExists(t, filepath.Join(m.cfg.Root, "crashed_2"))
	require.DirExists(t, filepath.Join(m.cfg.Root, "kept"))
	require.FileExists(t, filepath.Join(m.cfg.Root, "not a run.txt"))
	require.FileExists(t, filepath.Join(live.TreeDir(), "README.md"), "a workspace this manager prepared is never stale")
}

func TestRemove(t *testing.T) {
	src := newSource(t)
	m := newManager(t, nil)
	w, err := m.Prepare(t.Context(), "run_1", src, "")
	require.NoError(t, err)

	// What a container might leave: read-only files and directories, a
	// directory nobody may enter, a sticky directory, a FIFO.
	tree := w.TreeDir()
	writeFile(t, filepath.Join(tree, "ro", "deep", "f"), "x", 0o444)
	require.NoError(t, os.Chmod(filepath.Join(tree, "ro", "deep"), 0o555))
	require.NoError(t, os.Chmod(filepath.Join(tree, "ro"), 0o500))
	writeFile(t, filepath.Join(tree, "locked", "f"), "x", 0o000)
	require.NoError(t, os.Chmod(filepath.Join(tree, "locked"), 0o000))
	writeFile(t, filepath.Join(tree, "sticky", "f"), "x", 0o644)
	require.NoError(t, os.Chmod(filepath.Join(tree, "sticky"), 0o1777))
	require.NoError(t, syscall.Mkfifo(filepath.Join(tree, "fifo"), 0o600))
	require.NoError(t, os.Chmod(tree, 0o555))

	require.NoError(t, w.Remove())
	require.NoDirExists(t, w.dir)
	require.NoError(t, w.Remove(), "Remove is idempotent")
	_, err = w.Patch(t.Context())
	require.ErrorIs(t, err, ErrRemoved)
	prepare(t, m, "run_1", src, "") // the run id is free again
}

func TestPrepareHistoryDepth(t *testing.T) {
	src := newSource(t)
	for _, tt := range []struct {
		full bool
		want string
	}{{false, "1\n"}, {true, "2\n"}} {
		m := newManager(t, func(c *Config) { c.FullHistory = tt.full })
		w := prepare(t, m, "run_1", src, "feature")
		require.Equal(t, tt.want, testGit(t, "", "--git-dir="+w.gitDir, "rev-list", "--count", "HEAD"), "full history %v", tt.full)
	}
}
