//go:build linux

package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// SmallFS mounts a new, empty filesystem of size bytes on a fresh temporary
// dir and returns the dir; it is unmounted when the test ends, after the
// cleanups registered later (so a store opened on it is closed first).
// kind is "tmpfs" or "ext4" (an image in the test's temp dir, loop-mounted,
// with no blocks reserved for root). Mounting needs root and the mount
// capability: without them the test stops through Unavailable.
func SmallFS(t testing.TB, kind string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "mounting a small %s needs root", kind)
	}
	dir := t.TempDir()
	var cmd *exec.Cmd
	switch kind {
	case "tmpfs":
		cmd = exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir)
	case "ext4":
		img := filepath.Join(t.TempDir(), "ext4.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatalf("create image: %v", err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatalf("size image: %v", err)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
			Unavailable(t, "mkfs.ext4: %v: %s", err, out)
		}
		cmd = exec.Command("mount", "-o", "loop", img, dir)
	default:
		t.Fatalf("testenv.SmallFS: unknown filesystem kind %q", kind)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		Unavailable(t, "mount a %d byte %s: %v: %s", size, kind, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Something still holds it (a failed test left a file open):
			// detach it anyway, so no mount outlives the test binary.
			t.Errorf("umount %s: %v: %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// Fill writes a file in dir until the filesystem holding dir has no block
// left, and returns its path: removing or truncating it gives space back.
// Blocks that other files have only partly used stay usable by them.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	// Some filesystems (ext4 with delayed allocation) reserve more than they
	// end up using and return it at writeback: write, sync, and write again
	// until a round after a sync gains nothing.
	for {
		gained := int64(0)
		for {
			n, err := f.Write(chunk)
			gained += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("fill %s: %v", dir, err)
			}
		}
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fill %s: sync: %v", dir, err)
		}
		if gained == 0 {
			return path
		}
	}
}

// FreeBytes reports the space left on the filesystem holding dir.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * st.Bsize
}
