package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Everything here walks a directory through os.Root and fs.WalkDir: WalkDir
// never descends into a symlink, and os.Root refuses any path that would
// leave the directory, so no operation can reach a host file through a link
// the agent planted.

// chownTree gives every entry under dir, symlinks included (as links), to
// uid:gid. It runs before the agent starts.
func chownTree(dir string, uid, gid int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(p, uid, gid)
	})
}

// openTree makes every directory and file under dir writable by anyone, for
// a host that cannot chown. Symlinks are left alone. It runs before the
// agent starts.
func openTree(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return root.Chmod(p, 0o777)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return root.Chmod(p, info.Mode().Perm()|0o666)
		}
		return nil
	})
}

// isGitName reports whether name is ".git" in any letter case, a name git
// refuses in every path component.
func isGitName(name string) bool { return strings.EqualFold(name, ".git") }

// scrubTree deletes what the agent left in dir that host git must not see or
// cannot represent: every entry named .git in any case (a directory with a
// hostile config and hooks, or a gitdir file pointing at a host path; left in
// place, a nested one would make git read it as an embedded repository), a
// symlink named .gitmodules (git refuses to index one), and FIFOs, sockets and
// devices (git cannot add them). It returns the paths it removed.
func scrubTree(dir string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var removed []string
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		name := d.Name()
		switch {
		case isGitName(name):
		case d.Type()&fs.ModeSymlink != 0 && strings.EqualFold(name, ".gitmodules"):
		case !d.IsDir() && !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0:
		default:
			return nil
		}
		if err := removeInRoot(root, p); err != nil {
			return err
		}
		removed = append(removed, p)
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	return removed, err
}

// removeInRoot removes name and everything under it, first making its
// directories writable so read-only or sticky directories the container made
// cannot stop a host without root privileges.
func removeInRoot(root *os.Root, name string) error {
	if err := root.RemoveAll(name); err == nil {
		return nil
	}
	if err := unlockDirs(root, name); err != nil {
		return err
	}
	return root.RemoveAll(name)
}

// unlockDirs sets mode 0700 on every directory at or under name. WalkDir
// calls the function for a directory before reading it, so a directory with
// mode 0000 is opened only after it has been unlocked.
func unlockDirs(root *os.Root, name string) error {
	return fs.WalkDir(root.FS(), name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if err := root.Chmod(p, 0o700); err != nil {
				return fmt.Errorf("unlock %s: %w", p, err)
			}
		}
		return nil
	})
}

// removeTree removes dir and everything under it, never following symlinks.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer root.Close()
	if err := unlockDirs(root, "."); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
