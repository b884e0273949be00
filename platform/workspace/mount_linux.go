//go:build linux

package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mkfsPaths are where mkfs.ext4 is looked for when it is not on PATH: a
// service's PATH often lacks the sbin directories.
var mkfsPaths = []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"}

// findMkfs locates mkfs.ext4.
func findMkfs() (string, error) {
	if p, err := exec.LookPath("mkfs.ext4"); err == nil {
		return filepath.Abs(p)
	}
	for _, p := range mkfsPaths {
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("mkfs.ext4 not found (package e2fsprogs)")
}

// makeFS creates image as a sparse file of size bytes holding an empty ext4
// filesystem with about files inodes (0: one per 4 KiB block, the most
// ext4 allows). The filesystem is disposable, so it has no journal and no
// room to grow, reserves no blocks for root and leaves its inode tables
// unwritten (sparse) until used.
func makeFS(ctx context.Context, mkfs, image string, size, files int64) (err error) {
	f, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(image)
		}
	}()
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	args := []string{"-q", "-F", "-b", "4096", "-I", "256", "-m", "0",
		"-O", "^has_journal,^resize_inode",
		"-E", "lazy_itable_init=1,nodiscard,root_owner=0:0"}
	if files > 0 {
		args = append(args, "-N", strconv.FormatInt(files, 10))
	} else {
		args = append(args, "-i", "4096")
	}
	cmd := exec.CommandContext(ctx, mkfs, append(args, image)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mountFS attaches image to a free loop device and mounts it on dir with
// nosuid and nodev. The device detaches by itself once unmounted.
func mountFS(image, dir string) error {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	img, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer img.Close()
	// Another process may take the free device between asking and
	// attaching (EBUSY): ask again.
	for range 16 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return fmt.Errorf("loop-control: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		loop, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = attachLoop(int(loop.Fd()), int(img.Fd()))
		if errors.Is(err, unix.EBUSY) {
			loop.Close()
			continue
		}
		if err != nil {
			loop.Close()
			return fmt.Errorf("attach %s: %w", dev, err)
		}
		err = unix.Mount(dev, dir, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOATIME, "noinit_itable")
		// Closing the device detaches it when the mount failed (autoclear);
		// the mount holds it otherwise.
		loop.Close()
		if err != nil {
			return &fs.PathError{Op: "mount", Path: dir, Err: err}
		}
		return nil
	}
	return errors.New("no free loop device")
}

// attachLoop backs the loop device with the image, with autoclear.
func attachLoop(loop, img int) error {
	err := unix.IoctlLoopConfigure(loop, &unix.LoopConfig{Fd: uint32(img),
		Info: unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}})
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		return err
	}
	// Kernels before 5.8 have no LOOP_CONFIGURE.
	if err := unix.IoctlSetInt(loop, unix.LOOP_SET_FD, img); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(loop, &unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}); err != nil {
		_ = unix.IoctlSetInt(loop, unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}

// unmountFS unmounts dir, lazily when something still uses it (the
// filesystem then goes away with its last user). A dir that is not a mount
// point is fine.
func unmountFS(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return &fs.PathError{Op: "unmount", Path: dir, Err: err}
}

// isMountPoint reports whether dir is on another filesystem than its parent.
func isMountPoint(dir string) bool {
	var d, p unix.Stat_t
	if unix.Lstat(dir, &d) != nil || unix.Stat(filepath.Dir(dir), &p) != nil {
		return false
	}
	return d.Dev != p.Dev
}

func statFS(path string) (fsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsStats{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	return fsStats{
		freeBytes: int64(st.Bavail) * st.Bsize,
		usedBytes: int64(st.Blocks-st.Bfree) * st.Bsize,
		freeFiles: int64(st.Ffree),
		usedFiles: int64(st.Files - st.Ffree),
	}, nil
}
