package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/testenv"
)

// The limit tests put Root on a volume of their own, so that the free space
// they measure moves only with what they write.

// limited is a manager on a fresh volume of volume bytes with limits.
func limited(t *testing.T, volume int64, mode string, maxBytes, maxFiles int64) *Manager {
	t.Helper()
	root := filepath.Join(testenv.SmallFS(t, "ext4", volume), "ws")
	return newManager(t, func(c *Config) {
		c.Root, c.Mode, c.MaxBytes, c.MaxFiles = root, mode, maxBytes, maxFiles
	})
}

// fill writes n bytes of zeros to path, as an agent writing without end
// would, and returns the error that stopped it.
func fill(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for written := int64(0); written < n; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return f.Sync()
}

// touch creates n empty files in dir and returns the error that stopped it.
func touch(dir string, n int) error {
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	return isMountPoint(dir)
}

func TestMountModeHoldsTheLimits(t *testing.T) {
	const limit = 32 << 20
	m := limited(t, 256<<20, ModeMount, limit, 300)
	mode, note, err := m.Probe(t.Context())
	require.NoError(t, err)
	require.Equal(t, ModeMount, mode, note)
	url := newSource(t)
	free := testenv.FreeBytes(t, m.cfg.Root)

	t.Run("bytes", func(t *testing.T) {
		w := prepare(t, m, "run-bytes", url, "main")
		require.True(t, mounted(t, w.dir))
		le, err := w.Check(t.Context())
		require.NoError(t, err)
		require.Nil(t, le)

		// Writing five times the limit stops at the limit, even for root.
		err = fill(filepath.Join(w.TreeDir(), "fill"), 5*limit)
		require.ErrorIs(t, err, syscall.ENOSPC)
		le, err = w.Check(t.Context())
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitBytes, Max: limit}, le)
		used := free - testenv.FreeBytes(t, m.cfg.Root)
		t.Logf("volume free: %d MiB before, %d MiB with a full workspace (%d MiB used)", free>>20, (free-used)>>20, used>>20)
		require.LessOrEqual(t, used, int64(limit), "the host gave the workspace no more than its limit")

		require.NoError(t, w.Remove())
		require.False(t, mounted(t, w.dir))
		require.NoFileExists(t, m.imagePath("run-bytes"))
		require.NoDirExists(t, w.dir)
		require.InDelta(t, free, testenv.FreeBytes(t, m.cfg.Root), 1<<20, "the space came back")
	})

	t.Run("files", func(t *testing.T) {
		w := prepare(t, m, "run-files", url, "main")
		err := touch(w.TreeDir(), 1000)
		require.ErrorIs(t, err, syscall.ENOSPC)
		le, err := w.Check(t.Context())
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitFiles, Max: 300}, le)
		u, _, err := w.Measure(t.Context())
		require.NoError(t, err)
		// ext4 rounds its inode count up to a multiple of 16 per block group.
		require.LessOrEqual(t, u.Files, int64(300+16))
	})
}

func TestScanModeFindsAWorkspacePastItsLimits(t *testing.T) {
	const limit = 4 << 20
	m := limited(t, 64<<20, ModeScan, limit, 100)
	url := newSource(t)

	t.Run("bytes", func(t *testing.T) {
		w := prepare(t, m, "run-bytes", url, "main")
		le, err := w.Check(t.Context())
		require.NoError(t, err)
		require.Nil(t, le)
		// The next check is due long after: only the volume's lost space
		// makes it walk the workspace again at once.
		require.NoError(t, fill(filepath.Join(w.TreeDir(), "fill"), limit+(1<<20)))
		le, err = w.Check(t.Context())
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitBytes, Max: limit}, le)
	})

	t.Run("files", func(t *testing.T) {
		w := prepare(t, m, "run-files", url, "main")
		_, err := w.Check(t.Context())
		require.NoError(t, err)
		require.NoError(t, touch(w.TreeDir(), 100))
		le, err := w.Check(t.Context())
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitFiles, Max: 100}, le)
	})

	t.Run("a sparse file counts by its size", func(t *testing.T) {
		w := prepare(t, m, "run-sparse", url, "main")
		require.NoError(t, os.Truncate(filepath.Join(w.TreeDir(), "README.md"), 1<<30))
		_, le, err := w.Measure(t.Context())
		require.NoError(t, err)
		require.Equal(t, &LimitError{Limit: LimitBytes, Max: limit}, le)
	})
}

func TestCloneTooLarge(t *testing.T) {
	src := t.TempDir()
	testGit(t, src, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(src, "big.bin"), binaryContent(3, 3<<20), 0o644)
	testGit(t, src, "add", "-A")
	testGit(t, src, "commit", "-q", "-m", "big")
	m := newManager(t, func(c *Config) { c.Mode, c.MaxBytes = ModeScan, 2<<20 })

	_, err := m.Prepare(t.Context(), "run-big", "file://"+src, "main")

	var ce *CloneError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, ReasonTooLarge, ce.Reason)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, LimitBytes, le.Limit)
	require.Empty(t, entries(t, m.cfg.Root))
}

func TestPrepareKeepsRoomForTheWorkspacesInUse(t *testing.T) {
	// A 64 MiB volume has room for one 40 MiB workspace, not two.
	m := limited(t, 64<<20, ModeMount, 40<<20, 500)
	url := newSource(t)
	prepare(t, m, "run-1", url, "main")

	_, err := m.Prepare(t.Context(), "run-2", url, "main")

	require.ErrorIs(t, err, ErrNoRoom)
	require.NoDirExists(t, filepath.Join(m.cfg.Root, "run-2"))
}

func TestRemoveStaleUnmountsWhatACrashLeft(t *testing.T) {
	m := limited(t, 128<<20, ModeMount, 32<<20, 500)
	w, err := m.Prepare(t.Context(), "run-left", newSource(t), "main")
	require.NoError(t, err)
	require.True(t, mounted(t, w.dir))

	// A new process finds the mounted filesystem and its image.
	next := newManager(t, func(c *Config) { *c = m.cfg })
	require.NoError(t, next.RemoveStale(nil))

	require.False(t, mounted(t, w.dir))
	require.Empty(t, entries(t, m.cfg.Root))
}

func TestProbe(t *testing.T) {
	t.Run("mount needs a byte limit", func(t *testing.T) {
		_, err := NewManager(Config{Root: t.TempDir(), Mode: ModeMount, OwnerUID: testUID, OwnerGID: testGID})
		require.Error(t, err)
	})
	t.Run("auto without a byte limit scans", func(t *testing.T) {
		m := newManager(t, nil)
		mode, note, err := m.Probe(t.Context())
		require.NoError(t, err)
		require.Equal(t, ModeScan, mode)
		require.NotEmpty(t, note)
	})
	t.Run("auto mounts where it can", func(t *testing.T) {
		m := limited(t, 64<<20, ModeAuto, 16<<20, 100)
		mode, note, err := m.Probe(t.Context())
		require.NoError(t, err)
		require.Equal(t, ModeMount, mode, note)
		require.Empty(t, entries(t, m.cfg.Root), "the probe leaves nothing behind")
	})
	t.Run("mount fails where it cannot", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("root can mount")
		}
		m := newManager(t, func(c *Config) { c.Mode, c.MaxBytes = ModeMount, 16<<20 })
		saved := mkfsPaths
		t.Cleanup(func() { mkfsPaths = saved })
		mkfsPaths = nil
		t.Setenv("PATH", t.TempDir())
		_, _, err := m.Probe(t.Context())
		require.ErrorContains(t, err, "mkfs.ext4 not found")
	})
}
