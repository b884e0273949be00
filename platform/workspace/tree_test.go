package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mkdeep makes a chain of depth directories named name under dir with
// mkdirat, each relative to the last: no path is ever resolved, so it is as
// fast at depth 100,000 as at depth 10.
func mkdeep(t testing.TB, dir, name string, depth int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	for range depth {
		require.NoError(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		require.NoError(t, unix.Close(fd))
		fd = next
	}
	require.NoError(t, unix.Close(fd))
}

// mixedTree makes a tree of wide and deep parts, with .git entries and a FIFO
// to scrub at several depths and positions, and returns every path in it.
func mixedTree(t *testing.T, dir string) {
	t.Helper()
	for i := range 40 {
		writeFile(t, filepath.Join(dir, "wide", fmt.Sprintf("f%03d", i)), "x", 0o644)
		require.NoError(t, os.Mkdir(filepath.Join(dir, "wide", fmt.Sprintf("d%03d", i)), 0o755))
		writeFile(t, filepath.Join(dir, "wide", fmt.Sprintf("d%03d", i), "inner"), "x", 0o644)
	}
	deep := filepath.Join(dir, "deep")
	for i := range 12 {
		deep = filepath.Join(deep, fmt.Sprintf("l%02d", i))
		writeFile(t, filepath.Join(deep, "file"), "x", 0o644)
		require.NoError(t, os.Mkdir(filepath.Join(deep, fmt.Sprintf("side%02d", i)), 0o755))
		if i%3 == 0 {
			writeFile(t, filepath.Join(deep, ".git", "config"), "[core]\n", 0o644)
		}
		if i%4 == 1 {
			writeFile(t, filepath.Join(deep, ".Git"), "gitdir: /etc\n", 0o644)
		}
	}
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "wide", "d007", "fifo"), 0o644))
	writeFile(t, filepath.Join(dir, "wide", "d020", ".GIT", "HEAD"), "ref: refs/heads/main\n", 0o644)
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "deep", "l00", "etc")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "wide", ".gitmodules")))
}

// listTree lists every path under dir (not following symlinks), sorted.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		require.NoError(t, err)
		if p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	}))
	return out
}

// copyTree copies src (directories, files, FIFOs, symlinks) to a new dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	out, err := exec.Command("cp", "-a", src, dst).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return dst
}

// TestWalkWindows checks every walk reaches each entry exactly once whatever
// the window of open directories, including when it reopens directories
// through "..", and scrubs exactly what it should.
func TestWalkWindows(t *testing.T) {
	orig := filepath.Join(t.TempDir(), "tree")
	mixedTree(t, orig)
	all := listTree(t, orig)
	var scrubbed []string
	for _, p := range all {
		base := filepath.Base(p)
		if isGitName(base) || base == ".gitmodules" || base == "fifo" {
			scrubbed = append(scrubbed, p)
		}
	}
	var want []string
	for _, p := range all {
		if !slices.ContainsFunc(scrubbed, func(s string) bool { return p == s || strings.HasPrefix(p, s+"/") }) {
			want = append(want, p)
		}
	}
	require.NotEqual(t, all, want)

	for _, window := range []int{1, 2, 3, 5, walkWindow} {
		t.Run(fmt.Sprintf("window %d", window), func(t *testing.T) {
			dir := copyTree(t, orig)
			var seen []string
			w := newWalker(t.Context())
			w.window = window
			err := walkTreeWith(w, dir, treeLimits{}, visitor{
				dir: func(int) error {
					require.LessOrEqual(t, len(w.stack)-w.lowest, window, "open directories")
					return nil
				},
				entry: func(_ int, e fs.DirEntry) (bool, error) {
					seen = append(seen, w.path(e.Name()))
					return false, nil
				},
			})
			require.NoError(t, err)
			slices.Sort(seen)
			require.Equal(t, all, seen)

			w = newWalker(t.Context())
			w.window = window
			v := visitor{dir: func(int) error { return nil }}
			v.entry = func(dirfd int, e fs.DirEntry) (bool, error) {
				name := e.Name()
				if isGitName(name) || name == ".gitmodules" || name == "fifo" {
					return true, removeAt(t.Context(), dirfd, name, e.IsDir())
				}
				return false, nil
			}
			require.NoError(t, walkTreeWith(w, dir, treeLimits{}, v))
			require.Equal(t, want, listTree(t, dir))

			require.NoError(t, removeTree(dir))
			require.NoDirExists(t, dir)
		})
	}
}

// TestWalkNoticesSwappedDirectory checks a walk that reopens a directory
// through ".." refuses one that is not the directory it left: here the
// directory it is in moves under another parent, outside the tree, which
// lists the same names, so only the directory's identity tells them apart.
func TestWalkNoticesSwappedDirectory(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "p", "c", "d", "e"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(outside, "p"), 0o755))
	w := newWalker(t.Context())
	w.window = 1
	moved := false
	var seen []string
	err := walkTreeWith(w, dir, treeLimits{}, visitor{
		dir: func(int) error {
			if len(w.stack) == 5 && !moved {
				moved = true
				require.NoError(t, os.Rename(filepath.Join(dir, "p", "c"), filepath.Join(outside, "p", "c")))
			}
			return nil
		},
		entry: func(_ int, e fs.DirEntry) (bool, error) {
			seen = append(seen, w.path(e.Name()))
			return false, nil
		},
	})
	require.True(t, moved)
	require.ErrorIs(t, err, errTreeChanged)
	require.Equal(t, []string{"p", "p/c", "p/c/d", "p/c/d/e"}, seen)
}

// TestWalkNoticesChangedListing checks a walk that reopens a directory
// refuses to go on when the directory no longer lists what it took from it
// first: had an entry it took gone, counting alone would skip one it has
// not seen.
func TestWalkNoticesChangedListing(t *testing.T) {
	dir := t.TempDir()
	for i := range 10 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d", i)), "x", 0o644)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub", "x", "y"), 0o755))
	w := newWalker(t.Context())
	w.window = 1
	renamed := false
	err := walkTreeWith(w, dir, treeLimits{}, visitor{
		dir: func(int) error {
			if len(w.stack) == 4 && !renamed {
				renamed = true
				require.NoError(t, os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "renamed")))
			}
			return nil
		},
		entry: func(int, fs.DirEntry) (bool, error) { return false, nil },
	})
	require.True(t, renamed)
	require.ErrorIs(t, err, errTreeChanged)
}

// TestWalkOfALiveTree checks a live walk passes over a directory that goes,
// or stops being a directory, between its listing and its entering, as an
// agent still running makes happen, where a walk of a still tree fails.
func TestWalkOfALiveTree(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run("live="+strconv.FormatBool(live), func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"gone", "file", "link", "kept"} {
				writeFile(t, filepath.Join(dir, d, "inner"), "x", 0o644)
			}
			var seen []string
			err := walkTree(t.Context(), dir, treeLimits{}, visitor{
				dir: func(int) error { return nil },
				entry: func(_ int, e fs.DirEntry) (bool, error) {
					p := filepath.Join(dir, e.Name())
					seen = append(seen, e.Name())
					switch e.Name() {
					case "gone":
						require.NoError(t, os.RemoveAll(p))
					case "file":
						require.NoError(t, os.RemoveAll(p))
						require.NoError(t, os.WriteFile(p, nil, 0o644))
					case "link":
						require.NoError(t, os.RemoveAll(p))
						require.NoError(t, os.Symlink(filepath.Join(dir, "kept"), p))
					}
					return false, nil
				},
				live: live,
			})
			if !live {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"gone", "file", "link", "kept", "inner"}, seen,
				"nothing under the changed entries, nothing twice")
		})
	}
}

// TestWalksRefuseDirectorySwappedForLink swaps a directory for a symlink
// to a directory outside the tree between the moment a walk lists it and
// the moment it enters it: the walk must not follow the link, neither to
// change what is outside nor to remove it.
func TestWalksRefuseDirectorySwappedForLink(t *testing.T) {
	setup := func(t *testing.T) (dir, outside string, swap func()) {
		dir, outside = t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(outside, "keep"), "host file", 0o600)
		require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
		swapped := false
		return dir, outside, func() {
			if !swapped {
				swapped = true
				require.NoError(t, os.Remove(filepath.Join(dir, "d")))
				require.NoError(t, os.Symlink(outside, filepath.Join(dir, "d")))
			}
		}
	}
	t.Run("walk", func(t *testing.T) {
		dir, outside, swap := setup(t)
		var seen []string
		w := newWalker(t.Context())
		w.onEntry = swap
		err := walkTreeWith(w, dir, treeLimits{}, visitor{
			dir: func(int) error { return nil },
			entry: func(_ int, e fs.DirEntry) (bool, error) {
				seen = append(seen, w.path(e.Name()))
				return false, nil
			},
		})
		requireRefusedLink(t, err)
		require.Equal(t, []string{"d"}, seen, "nothing behind the link was visited")
		require.FileExists(t, filepath.Join(outside, "keep"))
	})
	t.Run("removal", func(t *testing.T) {
		dir, outside, swap := setup(t)
		parent, err := os.Open(dir)
		require.NoError(t, err)
		defer parent.Close()
		require.NoError(t, os.Mkdir(filepath.Join(dir, "top"), 0o755))
		require.NoError(t, os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "top", "d")))
		swap = func() {
			require.NoError(t, os.Remove(filepath.Join(dir, "top", "d")))
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "top", "d")))
		}
		w := newWalker(t.Context())
		once := false
		w.onEntry = func() {
			if !once {
				once = true
				swap()
			}
		}
		err = removeDirWith(w, int(parent.Fd()), "top")
		requireRefusedLink(t, err)
		require.FileExists(t, filepath.Join(outside, "keep"), "removal followed the link")
	})
}

// requireRefusedLink checks err is openat refusing a symlink where a
// directory was expected (O_NOFOLLOW with O_DIRECTORY fails with ENOTDIR on
// Linux, ELOOP elsewhere).
func requireRefusedLink(t *testing.T, err error) {
	t.Helper()
	require.True(t, errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP), "%v", err)
}

func TestTreeLimits(t *testing.T) {
	dir := t.TempDir()
	mkdeep(t, dir, "d", 50)
	for i := range 10 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d", i)), "x", 0o644)
	}
	entries := 50 + 10
	walks := map[string]func(context.Context, string, treeLimits) error{
		"scrub": scrubTree,
		"chown": func(ctx context.Context, dir string, lim treeLimits) error {
			return chownTree(ctx, dir, os.Getuid(), os.Getgid(), lim)
		},
		"open": openTree,
	}
	for name, walk := range walks {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, walk(t.Context(), dir, treeLimits{depth: 50, entries: entries}))

			err := walk(t.Context(), dir, treeLimits{depth: 49, entries: entries})
			require.ErrorIs(t, err, ErrTreeLimit)
			var le *TreeLimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, TreeLimitError{Limit: "depth", Max: 49}, *le)
			require.EqualError(t, err, "the tree nests directories deeper than the limit of 49")

			err = walk(t.Context(), dir, treeLimits{depth: 50, entries: entries - 1})
			require.ErrorAs(t, err, &le)
			require.Equal(t, TreeLimitError{Limit: "entries", Max: entries - 1}, *le)
			require.EqualError(t, err, fmt.Sprintf("the tree has more entries than the limit of %d", entries-1))
		})
	}
}

// TestWalkDeadline checks a walk stops soon after its context ends: in one
// wide directory (no directory to enter, so only the entry count checks) and
// down a chain of directories.
func TestWalkDeadline(t *testing.T) {
	wide := t.TempDir()
	for i := range 3 * checkEvery {
		f, err := os.Create(filepath.Join(wide, fmt.Sprintf("f%04d", i)))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	deep := t.TempDir()
	mkdeep(t, deep, "d", 3*checkEvery)
	// Down a chain the walk stops at the next directory; in one directory
	// it stops at the next check, every checkEvery entries.
	for name, tc := range map[string]struct {
		dir      string
		maxTaken int
	}{"wide": {wide, checkEvery}, "deep": {deep, 11}} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w := newWalker(ctx)
			taken := 0
			w.onEntry = func() {
				taken++
				if taken == 10 {
					cancel()
				}
			}
			err := walkTreeWith(w, tc.dir, treeLimits{}, visitor{
				dir:   func(int) error { return nil },
				entry: func(int, fs.DirEntry) (bool, error) { return false, nil },
			})
			require.ErrorIs(t, err, context.Canceled)
			require.LessOrEqual(t, taken, tc.maxTaken, "entries taken after the context ended")
		})
	}
	t.Run("removal", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, scrubRemove(ctx, wide), context.Canceled)
		require.DirExists(t, wide)
	})
}

// scrubRemove removes dir's content the way the scrub removes a .git
// directory.
func scrubRemove(ctx context.Context, dir string) error {
	parent, err := os.Open(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	return removeAt(ctx, int(parent.Fd()), filepath.Base(dir), true)
}

// TestDeepTrees checks the walks on a tree deeper than the process may
// open directories at once: the limited walks stop at their limit, and
// removal, which has no limit, removes it all.
func TestDeepTrees(t *testing.T) {
	const depth, openFiles = 3000, 128
	dir := filepath.Join(t.TempDir(), "tree")
	require.NoError(t, os.Mkdir(dir, 0o755))
	mkdeep(t, dir, "d", depth)

	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	low := lim
	low.Cur = openFiles
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	t.Cleanup(func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)) })

	limits := treeLimits{depth: depth, entries: DefaultMaxTreeEntries}
	start := time.Now()
	require.NoError(t, scrubTree(t.Context(), dir, limits))
	require.NoError(t, chownTree(t.Context(), dir, os.Getuid(), os.Getgid(), limits))
	// Walked by path from the top, as fs.WalkDir over an os.Root does, this
	// costs the square of the depth: about 50 s here. By descriptor it is
	// tens of milliseconds.
	require.Less(t, time.Since(start), 10*time.Second, "the walks are not linear in the depth")
	limits.depth = depth - 1
	require.ErrorIs(t, scrubTree(t.Context(), dir, limits), ErrTreeLimit)

	start = time.Now()
	require.NoError(t, removeTree(dir))
	t.Logf("removed %d levels in %v", depth, time.Since(start).Round(time.Millisecond))
	require.NoDirExists(t, dir)
}

// TestRemoveTreeStaysInside checks removal never changes or removes anything
// a symlink in the tree points at.
func TestRemoveTreeStaysInside(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(outside, "host"), 0o500))
	writeFile(t, filepath.Join(outside, "secret"), "secret", 0o400)

	dir := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(dir, "a", "b", "f"), "x", 0o444)
	require.NoError(t, os.Chmod(filepath.Join(dir, "a", "b"), 0o000))
	require.NoError(t, os.Chmod(filepath.Join(dir, "a"), 0o555))
	require.NoError(t, os.Symlink(filepath.Join(outside, "host"), filepath.Join(dir, "dirlink")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "filelink")))
	require.NoError(t, os.Symlink("../../../..", filepath.Join(dir, "a", "up")))

	require.NoError(t, removeTree(dir))
	require.NoDirExists(t, dir)
	requireMode(t, filepath.Join(outside, "host"), fs.ModeDir|0o500)
	requireMode(t, filepath.Join(outside, "secret"), 0o400)
}

func requireMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Lstat(path)
	require.NoError(t, err)
	require.Equal(t, want, info.Mode()&(fs.ModeType|fs.ModePerm), path)
}

// TestRemoveTreeWithoutRoot removes, as an unprivileged user, what a
// container running as that user can leave: directories nobody may read,
// enter or write, sticky directories, read-only files. Run as root, it runs
// the removal in a child process as uid 65534.
func TestRemoveTreeWithoutRoot(t *testing.T) {
	if dir := os.Getenv("SLIPWAY_TEST_REMOVE_TREE"); dir != "" {
		// The child, as uid 65534.
		if err := removeTree(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the removal as another user")
	}
	base := t.TempDir()
	require.NoError(t, os.Chmod(base, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o755))
	outside := filepath.Join(base, "outside")
	require.NoError(t, os.Mkdir(outside, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(outside, "host"), 0o755))
	writeFile(t, filepath.Join(outside, "secret"), "secret", 0o644)

	runs := filepath.Join(base, "runs") // the workspace root, the host's
	dir := filepath.Join(runs, "run_1")
	writeFile(t, filepath.Join(dir, "ro", "deep", "f"), "x", 0o444)
	writeFile(t, filepath.Join(dir, "locked", "f"), "x", 0o000)
	writeFile(t, filepath.Join(dir, "sticky", "f"), "x", 0o644)
	require.NoError(t, os.Symlink(filepath.Join(outside, "host"), filepath.Join(dir, "dirlink")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "filelink")))
	mkdeep(t, dir, "d", 200)
	require.NoError(t, chownTree(t.Context(), runs, testUID, testGID, treeLimits{}))
	for p, mode := range map[string]os.FileMode{
		"ro/deep": 0o555, "ro": 0o500, "locked": 0o000, "sticky": os.ModeSticky | 0o777, ".": 0o555,
	} {
		require.NoError(t, os.Chmod(filepath.Join(dir, p), mode))
	}

	bin := filepath.Join(base, "workspace.test")
	out, err := exec.Command("cp", os.Args[0], bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(bin, "-test.run=^TestRemoveTreeWithoutRoot$")
	cmd.Env = []string{"SLIPWAY_TEST_REMOVE_TREE=" + dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testGID}}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	require.NoDirExists(t, dir)
	requireMode(t, filepath.Join(outside, "host"), fs.ModeDir|0o755)
	requireMode(t, filepath.Join(outside, "secret"), 0o644)
	info, err := os.Stat(filepath.Join(outside, "secret"))
	require.NoError(t, err)
	require.Equal(t, uint32(0), info.Sys().(*syscall.Stat_t).Uid, "symlink targets keep their owner")
}

func TestOpenTree(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), "secret", 0o600)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "d", "f"), "x", 0o644)
	writeFile(t, filepath.Join(dir, "run.sh"), "x", 0o755)
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")))
	require.NoError(t, openTree(t.Context(), dir, treeLimits{}))
	for p, want := range map[string]fs.FileMode{".": 0o777, "d": 0o777, "d/f": 0o666, "run.sh": 0o777} {
		info, err := os.Lstat(filepath.Join(dir, p))
		require.NoError(t, err)
		require.Equal(t, want, info.Mode().Perm(), p)
	}
	requireMode(t, filepath.Join(outside, "secret"), 0o600)
}

func TestChownTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), "secret", 0o600)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "d", "f"), "x", 0o644)
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")))
	require.NoError(t, chownTree(t.Context(), dir, testUID, testGID, treeLimits{}))
	for _, p := range []string{".", "d", "d/f", "link"} {
		info, err := os.Lstat(filepath.Join(dir, p))
		require.NoError(t, err)
		st := info.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]uint32{testUID, testGID}, [2]uint32{st.Uid, st.Gid}, p)
	}
	info, err := os.Stat(filepath.Join(outside, "secret"))
	require.NoError(t, err)
	require.Equal(t, uint32(0), info.Sys().(*syscall.Stat_t).Uid, "the link's target keeps its owner")
}
