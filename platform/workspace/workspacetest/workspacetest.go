// Package workspacetest gives tests a filesystem of their own: a small
// loop-mounted ext4 volume, so that what a test fills, and the free space it
// measures, are not shared with anything else on the machine.
package workspacetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipwayhq/slipway/platform/testenv"
)

// Volume mounts a fresh ext4 filesystem of size bytes on a temporary
// directory and returns the directory; it is unmounted and deleted when the
// test ends. Without root, loop devices or mkfs.ext4 the test is skipped
// (failed under CI).
func Volume(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "a loop-mounted volume needs root")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		mkfs = "/usr/sbin/mkfs.ext4"
		if _, err := os.Stat(mkfs); err != nil {
			testenv.Unavailable(t, "mkfs.ext4 (e2fsprogs): %v", err)
		}
	}
	base := t.TempDir()
	image, dir := filepath.Join(base, "volume.img"), filepath.Join(base, "volume")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(name string, args ...string) error {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Logf("%s %v: %s", name, args, out)
		}
		return err
	}
	if err := run("truncate", "-s", strconv.FormatInt(size, 10), image); err != nil {
		t.Fatal(err)
	}
	if err := run(mkfs, "-q", "-F", "-m", "0", "-O", "^has_journal", image); err != nil {
		t.Fatal(err)
	}
	if err := run("mount", "-o", "loop", image, dir); err != nil {
		testenv.Unavailable(t, "mounting a loop device: %v", err)
	}
	t.Cleanup(func() {
		out, err := exec.Command("umount", "--lazy", dir).CombinedOutput()
		if err != nil {
			t.Errorf("workspacetest: umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Free returns the bytes free for unprivileged users on the filesystem
// holding path.
func Free(t testing.TB, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatalf("workspacetest: statfs %s: %v", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
