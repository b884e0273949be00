package workspace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPatch(t *testing.T) {
	src := newSource(t)
	tests := []struct {
		name    string
		edit    func(t *testing.T, tree string)
		paths   []string // "diff --git" lines expected, in order
		ignored []string // files .gitignore keeps out of the patch
	}{
		{
			name:  "nothing changed",
			edit:  func(*testing.T, string) {},
			paths: nil,
		},
		{
			name: "modified new deleted binary symlink mode",
			edit: func(t *testing.T, tree string) {
				writeFile(t, filepath.Join(tree, "README.md"), "hello\nworld\n", 0o644)
				writeFile(t, filepath.Join(tree, "src", "new.go"), "package app\n", 0o644)
				require.NoError(t, os.Remove(filepath.Join(tree, "del.txt")))
				writeFile(t, filepath.Join(tree, "bin.dat"), binaryContent(2, 600), 0o644)
				writeFile(t, filepath.Join(tree, "img.bin"), binaryContent(3, 300), 0o644)
				require.NoError(t, os.Symlink("src/app.go", filepath.Join(tree, "newlink")))
				require.NoError(t, os.Chmod(filepath.Join(tree, "run.sh"), 0o644))
				writeFile(t, filepath.Join(tree, "empty"), "", 0o644)
			},
			paths: []string{
				"a/README.md b/README.md", "a/bin.dat b/bin.dat", "a/del.txt b/del.txt", "a/empty b/empty",
				"a/img.bin b/img.bin", "a/newlink b/newlink", "a/run.sh b/run.sh", "a/src/new.go b/src/new.go",
			},
		},
		{
			name: "file replaced by symlink and symlink by file",
			edit: func(t *testing.T, tree string) {
				require.NoError(t, os.Remove(filepath.Join(tree, "del.txt")))
				require.NoError(t, os.Symlink("README.md", filepath.Join(tree, "del.txt")))
				require.NoError(t, os.Remove(filepath.Join(tree, "link")))
				writeFile(t, filepath.Join(tree, "link"), "now a file\n", 0o644)
			},
			paths: []string{"a/del.txt b/del.txt", "a/del.txt b/del.txt", "a/link b/link", "a/link b/link"},
		},
		{
			name: "rename",
			edit: func(t *testing.T, tree string) {
				require.NoError(t, os.Rename(filepath.Join(tree, "src", "app.go"), filepath.Join(tree, "src", "main.go")))
			},
			paths: []string{"a/src/app.go b/src/main.go"},
		},
		{
			name: "tracked file matching gitignore stays tracked",
			edit: func(t *testing.T, tree string) {
				writeFile(t, filepath.Join(tree, "keep.log"), "changed\n", 0o644)
				writeFile(t, filepath.Join(tree, "untracked.log"), "ignored\n", 0o644)
			},
			paths:   []string{"a/keep.log b/keep.log"},
			ignored: []string{"untracked.log"},
		},
		{
			name: "mtime forged back",
			edit: func(t *testing.T, tree string) {
				p := filepath.Join(tree, "README.md")
				info, err := os.Stat(p)
				require.NoError(t, err)
				writeFile(t, p, "HELLO\n", 0o644) // same size
				require.NoError(t, os.Chtimes(p, info.ModTime(), info.ModTime()))
			},
			paths: []string{"a/README.md b/README.md"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, nil)
			w := prepare(t, m, "run_1", src, "")
			tt.edit(t, w.TreeDir())

			patch, err := w.Patch(t.Context())
			require.NoError(t, err)
			require.Equal(t, tt.paths, patchPaths(patch), "%s", patch)
			if tt.paths == nil {
				require.Empty(t, patch)
			}
			// The patch reproduces the agent's tree on a fresh clone.
			want := snapshot(t, w.TreeDir())
			for _, p := range tt.ignored {
				delete(want, p)
			}
			require.Equal(t, want, snapshot(t, applyTo(t, src, "main", patch)))

			again, err := w.Patch(t.Context())
			require.NoError(t, err)
			require.Equal(t, patch, again, "Patch is repeatable")
		})
	}
}

func TestPatchBinaryIsApplyable(t *testing.T) {
	src := newSource(t)
	m := newManager(t, nil)
	w := prepare(t, m, "run_1", src, "")
	writeFile(t, filepath.Join(w.TreeDir(), "bin.dat"), binaryContent(9, 4096), 0o644)
	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Contains(t, string(patch), "GIT binary patch")
	require.Equal(t, binaryContent(9, 4096), snapshot(t, applyTo(t, src, "main", patch))["bin.dat"][len("file:-:"):])
}

func TestPatchEmptyRepository(t *testing.T) {
	dir := t.TempDir()
	testGit(t, dir, "init", "-q", "-b", "trunk")
	m := newManager(t, nil)
	w := prepare(t, m, "run_1", "file://"+dir, "")
	require.Equal(t, "trunk", w.Branch())
	require.Empty(t, w.BaseCommit())

	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Empty(t, patch)

	writeFile(t, filepath.Join(w.TreeDir(), "main.go"), "package main\n", 0o644)
	writeFile(t, filepath.Join(w.TreeDir(), "b.bin"), binaryContent(1, 64), 0o644)
	patch, err = w.Patch(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"a/b.bin b/b.bin", "a/main.go b/main.go"}, patchPaths(patch))
	require.Contains(t, string(patch), "new file mode 100644")
}

func TestPatchTooLarge(t *testing.T) {
	src := newSource(t)
	m := newManager(t, func(c *Config) { c.MaxPatchBytes = 4 << 10 })
	w := prepare(t, m, "run_1", src, "")

	writeFile(t, filepath.Join(w.TreeDir(), "small.txt"), "fits\n", 0o644)
	_, err := w.Patch(t.Context())
	require.NoError(t, err)

	writeFile(t, filepath.Join(w.TreeDir(), "big.txt"), strings.Repeat("0123456789abcdef\n", 1<<14), 0o644)
	patch, err := w.Patch(t.Context())
	require.ErrorIs(t, err, ErrPatchTooLarge)
	require.Nil(t, patch)
	require.ErrorContains(t, err, "over 4096 bytes")
}

// TestPatchScrubs covers names git refuses or reads as metadata and file
// types it cannot add: the patch still succeeds with everything else.
func TestPatchScrubs(t *testing.T) {
	src := newSource(t)
	m := newManager(t, nil)
	w := prepare(t, m, "run_1", src, "")
	tree := w.TreeDir()

	writeFile(t, filepath.Join(tree, ".GIT", "config"), "[core]\n", 0o644)
	writeFile(t, filepath.Join(tree, "x", ".Git"), "gitdir: /etc\n", 0o644)
	// A nested repository with a commit: without scrubbing, git would add it
	// as an embedded repository (a gitlink), reading its metadata.
	nested := filepath.Join(tree, "vendor", "lib")
	testGit(t, "", "init", "-q", "-b", "main", nested)
	writeFile(t, filepath.Join(nested, "lib.go"), "package lib\n", 0o644)
	testGit(t, nested, "add", "-A")
	testGit(t, nested, "commit", "-q", "-m", "lib")
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(tree, ".gitmodules")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(tree, "fifo"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(tree, "README.md")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(tree, "README.md"), 0o644)) // tracked file replaced by a FIFO
	writeFile(t, filepath.Join(tree, "git~1"), "ntfs short name\n", 0o644)
	writeFile(t, filepath.Join(tree, ".git. "), "ntfs trailing dot and space\n", 0o644)

	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{
		"a/.git.  b/.git. ", "a/README.md b/README.md", "a/git~1 b/git~1", "a/vendor/lib/lib.go b/vendor/lib/lib.go",
	}, patchPaths(patch), "%s", patch)
	require.NotContains(t, string(patch), "Subproject commit")
	for _, gone := range []string{".GIT", "x/.Git", "vendor/lib/.git", ".gitmodules", "fifo", "README.md"} {
		_, err := os.Lstat(filepath.Join(tree, gone))
		require.ErrorIs(t, err, os.ErrNotExist, gone)
	}
}

// TestPatchTiming measures Prepare and Patch on a repository of 1000 files.
func TestPatchTiming(t *testing.T) {
	dir := t.TempDir()
	testGit(t, dir, "init", "-q", "-b", "main")
	file := func(i int) string { return filepath.Join(fmt.Sprintf("pkg%02d", i/50), fmt.Sprintf("file%04d.go", i)) }
	for i := range 1000 {
		writeFile(t, filepath.Join(dir, file(i)),
			fmt.Sprintf("package pkg\n\n// File %d.\nvar V%d = %q\n", i, i, strings.Repeat("x", 1000)), 0o644)
	}
	testGit(t, dir, "add", "-A")
	testGit(t, dir, "commit", "-q", "-m", "base")

	m := newManager(t, nil)
	start := time.Now()
	w := prepare(t, m, "run_1", "file://"+dir, "")
	prepared := time.Since(start)

	start = time.Now()
	patch, err := w.Patch(t.Context())
	unchanged := time.Since(start)
	require.NoError(t, err)
	require.Empty(t, patch)

	for i := range 50 {
		writeFile(t, filepath.Join(w.TreeDir(), file(i*20)), "package pkg\n", 0o644)
		writeFile(t, filepath.Join(w.TreeDir(), "new", fmt.Sprintf("n%02d.go", i)), "package pkg\n", 0o644)
	}
	for i := range 10 {
		require.NoError(t, os.Remove(filepath.Join(w.TreeDir(), file(i*20+1))))
	}
	start = time.Now()
	patch, err = w.Patch(t.Context())
	changed := time.Since(start)
	require.NoError(t, err)
	require.Len(t, patchPaths(patch), 110)
	t.Logf("1000 files: prepare %v, patch unchanged %v, patch with 110 changes (%d bytes) %v",
		prepared.Round(time.Millisecond), unchanged.Round(time.Millisecond), len(patch), changed.Round(time.Millisecond))
}

// TestPatchTreeLimits checks Patch refuses a tree the agent made deeper or
// larger than the limits, naming the limit, and accepts one at the limits.
func TestPatchTreeLimits(t *testing.T) {
	src := newSource(t)
	m := newManager(t, func(c *Config) { c.MaxTreeDepth = 20; c.MaxTreeEntries = 100 })
	w := prepare(t, m, "run_1", src, "")

	deep := filepath.Join(w.TreeDir(), "deep")
	require.NoError(t, os.Mkdir(deep, 0o755))
	mkdeep(t, deep, "d", 19)
	writeFile(t, filepath.Join(deep, strings.Repeat("d/", 19)+"f"), "x\n", 0o644)
	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"a/deep/" + strings.Repeat("d/", 19) + "f b/deep/" + strings.Repeat("d/", 19) + "f"}, patchPaths(patch))

	require.NoError(t, os.Mkdir(filepath.Join(deep, strings.Repeat("d/", 19)+"d"), 0o755))
	_, err = w.Patch(t.Context())
	var le *TreeLimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, TreeLimitError{Limit: "depth", Max: 20}, *le)
	require.NoError(t, os.RemoveAll(deep))

	for i := range 100 {
		writeFile(t, filepath.Join(w.TreeDir(), "many", fmt.Sprintf("f%03d", i)), "x\n", 0o644)
	}
	_, err = w.Patch(t.Context())
	require.ErrorAs(t, err, &le)
	require.Equal(t, TreeLimitError{Limit: "entries", Max: 100}, *le)
}

// TestPrepareTreeLimits checks Prepare refuses a repository whose tree is
// larger than the limits before the agent sees it, leaving nothing behind.
func TestPrepareTreeLimits(t *testing.T) {
	src := newSource(t)
	m := newManager(t, func(c *Config) { c.MaxTreeEntries = 5 })
	_, err := m.Prepare(t.Context(), "run_1", src, "")
	require.ErrorIs(t, err, ErrTreeLimit)
	require.Empty(t, entries(t, m.cfg.Root))
}

// TestPatchGitDeadline checks the git commands that build the patch stop at
// Patch's deadline: git here hangs in "add" or "diff" until it is killed.
func TestPatchGitDeadline(t *testing.T) {
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	for _, step := range []string{"add", "diff"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			never := filepath.Join(dir, "never")
			require.NoError(t, syscall.Mkfifo(never, 0o600)) // nobody ever writes to it
			wrapper := filepath.Join(dir, "git")
			writeFile(t, wrapper, fmt.Sprintf("#!/bin/sh\ncase \" $* \" in *\" %s \"*) exec cat %s ;; esac\nexec %s \"$@\"\n",
				step, never, realGit), 0o755)
			src := newSource(t)
			m := newManager(t, func(c *Config) { c.GitPath = wrapper })
			w := prepare(t, m, "run_1", src, "")
			writeFile(t, filepath.Join(w.TreeDir(), "README.md"), "changed\n", 0o644)

			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := w.Patch(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}
