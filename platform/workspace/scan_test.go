package workspace

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// usageByLstat is what scanUsage must find in dir: every entry, dir
// included, by lstat, with the larger of its size and its blocks.
func usageByLstat(t *testing.T, dir string) Usage {
	t.Helper()
	var u Usage
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		require.NoError(t, err)
		info, err := os.Lstat(p)
		require.NoError(t, err)
		u.Files++
		u.Bytes += max(info.Size(), info.Sys().(*syscall.Stat_t).Blocks*512)
		return nil
	}))
	return u
}

// scanTree is a run directory with a tree of every kind of entry: wide and
// deep parts, symlinks, a FIFO, a sparse file.
func scanTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	mixedTree(t, filepath.Join(dir, "tree"))
	writeFile(t, filepath.Join(dir, "home", ".profile"), "PATH=/bin\n", 0o644)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "tmp"), 0o700))
	writeFile(t, filepath.Join(dir, "tree", "big.txt"), binaryContent(2, 100_000), 0o644)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tree", "sparse"), nil, 0o644))
	require.NoError(t, os.Truncate(filepath.Join(dir, "tree", "sparse"), 1<<30))
	return dir
}

func TestScanUsage(t *testing.T) {
	dir := scanTree(t)
	want := usageByLstat(t, dir)
	lim := treeLimits{depth: DefaultMaxTreeDepth, entries: DefaultMaxTreeEntries}

	t.Run("counts every entry and its size", func(t *testing.T) {
		u, le, err := scanUsage(t.Context(), dir, 0, 0, lim)
		require.NoError(t, err)
		require.Nil(t, le)
		require.Equal(t, want, u)
		require.Greater(t, u.Bytes, int64(1<<30), "the sparse file counts by its size")
	})
	t.Run("stops just past the file limit", func(t *testing.T) {
		u, le, err := scanUsage(t.Context(), dir, 0, 50, lim)
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitFiles, Max: 50}, le)
		require.Equal(t, int64(51), u.Files)
	})
	t.Run("stops just past the byte limit", func(t *testing.T) {
		u, le, err := scanUsage(t.Context(), dir, want.Bytes-1, 0, lim)
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitBytes, Max: want.Bytes - 1}, le)
		require.Equal(t, want.Bytes, u.Bytes, "the walk passed the limit with the last bytes it could find")
	})
	t.Run("exactly at the limits", func(t *testing.T) {
		u, le, err := scanUsage(t.Context(), dir, want.Bytes, want.Files, lim)
		require.NoError(t, err)
		require.Nil(t, le)
		require.Equal(t, want, u)
	})
	t.Run("a tree larger than the walks may go", func(t *testing.T) {
		_, le, err := scanUsage(t.Context(), dir, 0, 0, treeLimits{depth: DefaultMaxTreeDepth, entries: 100})
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitEntries, Max: 100}, le)
		require.EqualError(t, le, "workspace has more entries than the limit of 100")
	})
	t.Run("the file limit comes first when it is lower", func(t *testing.T) {
		_, le, err := scanUsage(t.Context(), dir, 0, 99, treeLimits{entries: 100})
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitFiles, Max: 99}, le)
	})
	t.Run("a gone workspace is an error", func(t *testing.T) {
		_, _, err := scanUsage(t.Context(), filepath.Join(dir, "nothing"), 0, 0, lim)
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("the context ends the walk", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := scanUsage(ctx, dir, 0, 0, lim)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestScanUsageDepth checks max_tree_depth counts from the run directory's
// children, as the other walks count from its tree: a chain in the tree of
// exactly the limit is measured, one more is past it.
func TestScanUsageDepth(t *testing.T) {
	const depth = 20
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tree"), 0o755))
	mkdeep(t, filepath.Join(dir, "tree"), "d", depth)
	require.NoError(t, scrubTree(t.Context(), filepath.Join(dir, "tree"), treeLimits{depth: depth}))

	u, le, err := scanUsage(t.Context(), dir, 0, 0, treeLimits{depth: depth})
	require.NoError(t, err)
	require.Nil(t, le)
	require.Equal(t, usageByLstat(t, dir), u)

	_, le, err = scanUsage(t.Context(), dir, 0, 0, treeLimits{depth: depth - 1})
	require.NoError(t, err)
	require.Equal(t, &LimitError{Limit: LimitDepth, Max: depth - 1}, le)
	require.EqualError(t, le, fmt.Sprintf("workspace nests directories deeper than the limit of %d", depth-1))
}

// TestScanUsageOnAnAgentsDeepChain is the attack on scan mode: a chain of
// directories 20,000 deep, made with mkdirat from each last directory's
// descriptor, far past what a path may name (PATH_MAX is 4096 bytes, the
// chain's path 40,000). Walked by path from the top, as scanUsage once did,
// each scan costs the square of the depth (about 5 s at depth 2,000 and
// minutes here, every few seconds of the run); by descriptor the scan stops
// at max_tree_depth in a few milliseconds.
func TestScanUsageOnAnAgentsDeepChain(t *testing.T) {
	const depth = 20_000
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tree"), 0o755))
	// t.TempDir's RemoveAll cannot remove a tree this deep by path.
	t.Cleanup(func() {
		require.NoError(t, removeTree(dir))
		require.NoDirExists(t, dir)
	})
	mkdeep(t, filepath.Join(dir, "tree"), "d", depth)

	for _, lim := range []treeLimits{
		{depth: DefaultMaxTreeDepth, entries: DefaultMaxTreeEntries},
		{depth: 100_000, entries: DefaultMaxTreeEntries}, // the most runs.max_tree_depth allows
	} {
		start := time.Now()
		u, le, err := scanUsage(t.Context(), dir, 2<<30, 200_000, lim)
		took := time.Since(start)
		t.Logf("max depth %d: %d entries in %v, %v", lim.depth, u.Files, took.Round(time.Microsecond), le)
		require.NoError(t, err)
		if lim.depth < depth {
			require.Equal(t, &LimitError{Limit: LimitDepth, Max: int64(lim.depth)}, le)
			require.Equal(t, int64(1+1+lim.depth+1), u.Files, "the walk stopped at the limit")
		} else {
			require.Nil(t, le)
			require.Equal(t, int64(1+1+depth), u.Files, "the walk measured every level")
		}
		// Linear, this is tens of milliseconds on a loaded 2-core VM;
		// quadratic, it would be minutes.
		require.Less(t, took, 10*time.Second, "the scan is not linear in the depth")
	}
}

// BenchmarkScanUsage measures a scan of a deep chain and of a wide
// directory, the walk unbounded so that every entry is measured.
func BenchmarkScanUsage(b *testing.B) {
	for _, shape := range []struct {
		name string
		make func(b *testing.B, dir string)
	}{
		{"depth=2000", func(b *testing.B, dir string) { mkdeep(b, dir, "d", 2000) }},
		{"depth=10000", func(b *testing.B, dir string) { mkdeep(b, dir, "d", 10_000) }},
		{"files=100000", func(b *testing.B, dir string) {
			for i := range 100_000 {
				f, err := os.Create(filepath.Join(dir, "f"+strconv.Itoa(i)))
				require.NoError(b, err)
				require.NoError(b, f.Close())
			}
		}},
	} {
		b.Run(shape.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "tree")
			require.NoError(b, os.Mkdir(dir, 0o755))
			b.Cleanup(func() { require.NoError(b, removeTree(dir)) })
			shape.make(b, dir)
			for b.Loop() {
				u, le, err := scanUsage(b.Context(), dir, 0, 0, treeLimits{})
				require.NoError(b, err)
				require.Nil(b, le)
				b.ReportMetric(float64(u.Files), "entries")
			}
		})
	}
}
