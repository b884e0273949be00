package workspace

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testUID, testGID = 65534, 65534

// testGit runs git for test setup and checks, isolated from the machine's
// configuration. It is deliberately not the package's hardened runner.
func testGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	require.NoError(t, os.Chmod(path, mode))
}

func binaryContent(seed byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*7 + seed
	}
	b[0] = 0
	return string(b)
}

// newSource creates a repository with a main branch (text, binary, an
// executable, a symlink) and a feature branch; it returns its file:// URL.
func newSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	testGit(t, dir, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(dir, "README.md"), "hello\n", 0o644)
	writeFile(t, filepath.Join(dir, "src", "app.go"), "package app\n\nfunc A() int { return 1 }\n", 0o644)
	writeFile(t, filepath.Join(dir, "del.txt"), "delete me\n", 0o644)
	writeFile(t, filepath.Join(dir, "bin.dat"), binaryContent(1, 512), 0o644)
	writeFile(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n", 0o644)
	writeFile(t, filepath.Join(dir, "keep.log"), "tracked although ignored\n", 0o644)
	require.NoError(t, os.Symlink("README.md", filepath.Join(dir, "link")))
	testGit(t, dir, "add", "-A")
	testGit(t, dir, "add", "-f", "keep.log")
	testGit(t, dir, "commit", "-q", "-m", "base")
	testGit(t, dir, "checkout", "-q", "-b", "feature")
	writeFile(t, filepath.Join(dir, "feature.txt"), "feature\n", 0o644)
	testGit(t, dir, "add", "-A")
	testGit(t, dir, "commit", "-q", "-m", "feature")
	testGit(t, dir, "tag", "v1.0")
	testGit(t, dir, "checkout", "-q", "main")
	return "file://" + dir
}

func newManager(t *testing.T, edit func(*Config)) *Manager {
	t.Helper()
	cfg := Config{Root: filepath.Join(t.TempDir(), "ws"), AllowFile: true, OwnerUID: testUID, OwnerGID: testGID}
	if edit != nil {
		edit(&cfg)
	}
	m, err := NewManager(cfg)
	require.NoError(t, err)
	return m
}

func prepare(t *testing.T, m *Manager, runID, url, branch string) *Workspace {
	t.Helper()
	w, err := m.Prepare(t.Context(), runID, url, branch)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Remove()) })
	return w
}

// snapshot describes a tree: path → kind, mode bits and content or link
// target. Entries named .git are skipped.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Name() == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		info, err := d.Info()
		require.NoError(t, err)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			out[rel] = "link:" + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[rel] = "file:" + info.Mode().Perm().String()[3:4] + ":" + string(b)
		}
		return nil
	}))
	return out
}

// applyTo clones url at branch into a new directory, applies patch there
// with git apply, and returns the directory.
func applyTo(t *testing.T, url, branch string, patch []byte) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "apply")
	testGit(t, "", "clone", "-q", "--branch", branch, "--", url, dst)
	if len(patch) > 0 {
		f := filepath.Join(t.TempDir(), "p.diff")
		require.NoError(t, os.WriteFile(f, patch, 0o644))
		testGit(t, dst, "apply", "--binary", f)
	}
	return dst
}

// entries lists every path under dir, for leftover checks.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return out
}

func patchPaths(patch []byte) []string {
	var out []string
	for _, l := range bytes.Split(patch, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("diff --git ")); ok {
			out = append(out, string(rest))
		}
	}
	return out
}
