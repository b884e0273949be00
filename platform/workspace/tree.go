package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Every walk here holds open directories, never paths: a directory is opened
// relative to its parent's descriptor with O_NOFOLLOW, so no walk follows a
// symlink the agent planted, and no step costs more as the tree gets deeper.
// (Resolving "a/b/…/z" from the top for every directory, as fs.WalkDir over
// an os.Root does, costs the square of the depth: a tree 4,000 directories
// deep took a minute, 100,000 deep hours.) Entries are read in batches, so a
// directory of a million entries costs a batch of memory, not a million
// names. Only the deepest walkWindow directories of the path stay open; the
// walk reopens a shallower one through ".." when it gets back to it, checked
// to be the same directory, so a deep tree costs neither descriptors nor
// memory beyond its path of names.

// Defaults of Config.MaxTreeDepth and Config.MaxTreeEntries.
const (
	DefaultMaxTreeDepth   = 1000
	DefaultMaxTreeEntries = 1_000_000
)

const (
	// walkWindow is how many directories of a walk's path stay open.
	walkWindow = 32
	// readBatch is how many entries a walk reads from a directory at once.
	readBatch = 256
	// checkEvery is how many entries a walk takes between checks of its
	// context.
	checkEvery = 256
)

// ErrTreeLimit matches every *TreeLimitError.
var ErrTreeLimit = errors.New("tree limit exceeded")

// TreeLimitError is a tree deeper than Config.MaxTreeDepth or with more
// entries than Config.MaxTreeEntries: the walk over it stopped there.
type TreeLimitError struct {
	Limit string // LimitDepth or LimitEntries
	Max   int
}

func (e *TreeLimitError) Error() string {
	if e.Limit == LimitDepth {
		return fmt.Sprintf("the tree nests directories deeper than the limit of %d", e.Max)
	}
	return fmt.Sprintf("the tree has more entries than the limit of %d", e.Max)
}

// Is makes errors.Is(err, ErrTreeLimit) true.
func (e *TreeLimitError) Is(target error) bool { return target == ErrTreeLimit }

// errTreeChanged means a directory reopened through ".." was not the one the
// walk left, or lists other entries than it did: something else changes the
// tree, and the walk stops rather than guess.
var errTreeChanged = errors.New("the tree changed during the walk")

// treeLimits bound a walk; 0 means no bound.
type treeLimits struct {
	depth   int // directories nested below the top
	entries int // entries of every kind
}

// frame is one directory on a walk's path.
type frame struct {
	f        *os.File // nil while closed, outside the window
	fd       int
	name     string // in its parent
	dev, ino uint64 // to recognise it when reopened

	taken    int    // entries taken from its listing
	removed  int    // of those, removed since
	last     string // name of the last entry taken
	reopened bool   // listing restarted: skip what was taken and is still there
	skip     int    // entries of the restarted listing still to skip
	batch    []fs.DirEntry
}

// walker holds the path of a walk: a stack of frames, of which the deepest
// window are open.
type walker struct {
	ctx     context.Context
	window  int
	stack   []*frame
	lowest  int // index of the shallowest open frame
	counted int // entries taken, for the context checks
	// onEntry, when set, runs before each entry is handled (tests).
	onEntry func()
}

func newWalker(ctx context.Context) *walker {
	return &walker{ctx: ctx, window: walkWindow}
}

// openDirAt opens the directory name inside dirfd without following a
// symlink.
func openDirAt(dirfd int, name string) (*os.File, int, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, -1, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), fd, nil
}

// identify records which directory fr is.
func (fr *frame) identify() error {
	var st unix.Stat_t
	if err := unix.Fstat(fr.fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: fr.name, Err: err}
	}
	fr.dev, fr.ino = uint64(st.Dev), uint64(st.Ino)
	return nil
}

func (fr *frame) close() {
	if fr.f != nil {
		fr.f.Close()
		fr.f, fr.fd, fr.batch = nil, -1, nil
	}
}

// start puts the top directory of the walk on the stack.
func (w *walker) start(f *os.File, fd int, name string) error {
	fr := &frame{f: f, fd: fd, name: name}
	if err := w.ctx.Err(); err != nil {
		fr.close()
		return err
	}
	if err := fr.identify(); err != nil {
		fr.close()
		return err
	}
	w.stack = append(w.stack[:0], fr)
	w.lowest = 0
	return nil
}

// push opens the directory name of the top frame and makes it the top,
// closing the shallowest open frame if the window is full.
func (w *walker) push(name string, open func(dirfd int, name string) (*os.File, int, error)) (*frame, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	parent := w.stack[len(w.stack)-1]
	f, fd, err := open(parent.fd, name)
	if err != nil {
		return nil, err
	}
	fr := &frame{f: f, fd: fd, name: name}
	if err := fr.identify(); err != nil {
		fr.close()
		return nil, err
	}
	w.stack = append(w.stack, fr)
	if len(w.stack)-w.lowest > w.window {
		w.stack[w.lowest].close()
		w.lowest++
	}
	return fr, nil
}

// pop closes the top frame. If the frame under it was closed, it is reopened
// through the top's "..", and must be the directory it was.
func (w *walker) pop() error {
	child := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	defer child.close()
	if len(w.stack) == 0 {
		return nil
	}
	parent := w.stack[len(w.stack)-1]
	if parent.f != nil {
		return nil
	}
	f, fd, err := openDirAt(child.fd, "..")
	if err != nil {
		return err
	}
	dev, ino := parent.dev, parent.ino
	parent.f, parent.fd = f, fd
	if err := parent.identify(); err != nil {
		parent.close()
		return err
	}
	if parent.dev != dev || parent.ino != ino {
		parent.close()
		return fmt.Errorf("reopen %s: %w", parent.name, errTreeChanged)
	}
	parent.reopened = true
	w.lowest = len(w.stack) - 1
	return nil
}

// next takes the next entry of fr's listing; io.EOF at its end.
func (w *walker) next(fr *frame) (fs.DirEntry, error) {
	if fr.reopened {
		// A fresh listing lists the entries taken before, less those
		// removed since, first and in the same order: skip them.
		fr.skip, fr.reopened = fr.taken-fr.removed, false
	}
	for len(fr.batch) == 0 {
		batch, err := fr.f.ReadDir(readBatch)
		if len(batch) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.EOF
				if fr.skip > 0 {
					err = fmt.Errorf("list %s again: %w", fr.name, errTreeChanged)
				}
			}
			return nil, err
		}
		if fr.skip > 0 {
			n := min(fr.skip, len(batch))
			fr.skip -= n
			if fr.skip == 0 && batch[n-1].Name() != fr.last {
				return nil, fmt.Errorf("list %s again: %w", fr.name, errTreeChanged)
			}
			batch = batch[n:]
		}
		fr.batch = batch
	}
	e := fr.batch[0]
	fr.batch[0] = nil
	fr.batch = fr.batch[1:]
	fr.taken++
	fr.last = e.Name()
	w.counted++
	if w.onEntry != nil {
		w.onEntry()
	}
	if w.counted%checkEvery == 0 {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// path is the path of name in the top frame, relative to the walk's top, for
// error messages: its last maxPathParts components at most.
func (w *walker) path(name string) string {
	const maxPathParts = 16
	frames := w.stack[1:]
	var parts []string
	if len(frames) > maxPathParts {
		parts = append(parts, "…")
		frames = frames[len(frames)-maxPathParts:]
	}
	for _, fr := range frames {
		parts = append(parts, fr.name)
	}
	return filepath.Join(append(parts, name)...)
}

func (w *walker) closeAll() {
	for _, fr := range w.stack {
		fr.close()
	}
	w.stack = nil
}

// visitor is what a walk does: dir for every directory it enters (the top
// included) with the directory's descriptor, entry for every entry with its
// directory's descriptor. entry reports whether it removed the entry (or found
// it gone); the walk enters every directory that was not removed.
type visitor struct {
	dir   func(fd int) error
	entry func(dirfd int, e fs.DirEntry) (removed bool, err error)
	// live says the tree changes while it is walked (an agent still runs
	// in it): a directory that is gone, or no longer a directory, when the
	// walk comes to enter it is passed over instead of failing the walk.
	live bool
}

// walkTree runs v over dir and everything under it, pre-order, within lim and
// ctx.
func walkTree(ctx context.Context, dir string, lim treeLimits, v visitor) error {
	return walkTreeWith(newWalker(ctx), dir, lim, v)
}

func walkTreeWith(w *walker, dir string, lim treeLimits, v visitor) error {
	f, fd, err := openDirAt(unix.AT_FDCWD, dir)
	if err != nil {
		return err
	}
	if err := w.start(f, fd, "."); err != nil {
		return err
	}
	defer w.closeAll()
	if err := v.dir(fd); err != nil {
		return err
	}
	entries := 0
	for len(w.stack) > 0 {
		fr := w.stack[len(w.stack)-1]
		e, err := w.next(fr)
		if errors.Is(err, io.EOF) {
			if err := w.pop(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		entries++
		if lim.entries > 0 && entries > lim.entries {
			return &TreeLimitError{Limit: LimitEntries, Max: lim.entries}
		}
		removed, err := v.entry(fr.fd, e)
		if err != nil {
			return fmt.Errorf("%s: %w", w.path(e.Name()), err)
		}
		if removed {
			fr.removed++
			continue
		}
		if !e.IsDir() {
			continue
		}
		if lim.depth > 0 && len(w.stack) > lim.depth {
			return &TreeLimitError{Limit: LimitDepth, Max: lim.depth}
		}
		child, err := w.push(e.Name(), openDirAt)
		if v.live && errors.Is(err, unix.ENOENT) {
			fr.removed++ // a fresh listing will not have it
			continue
		}
		if v.live && (errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)) {
			continue // replaced by a file or a symlink: never entered
		}
		if err != nil {
			return fmt.Errorf("%s: %w", w.path(e.Name()), err)
		}
		if err := v.dir(child.fd); err != nil {
			return fmt.Errorf("%s: %w", w.path(""), err)
		}
	}
	return nil
}

// chownTree gives dir and every entry under it, symlinks included (as
// links), to uid:gid. It runs before the agent starts.
func chownTree(ctx context.Context, dir string, uid, gid int, lim treeLimits) error {
	return walkTree(ctx, dir, lim, visitor{
		dir: func(fd int) error { return unix.Fchown(fd, uid, gid) },
		entry: func(dirfd int, e fs.DirEntry) (bool, error) {
			if e.IsDir() {
				return false, nil // by its descriptor, once entered
			}
			return false, unix.Fchownat(dirfd, e.Name(), uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		},
	})
}

// openTree makes dir and every directory and file under it writable by
// anyone, for a host that cannot chown. Symlinks are left alone. It runs
// before the agent starts.
func openTree(ctx context.Context, dir string, lim treeLimits) error {
	return walkTree(ctx, dir, lim, visitor{
		dir: func(fd int) error { return unix.Fchmod(fd, 0o777) },
		entry: func(dirfd int, e fs.DirEntry) (bool, error) {
			if !e.Type().IsRegular() {
				return false, nil
			}
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return false, err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				return false, nil
			}
			return false, unix.Fchmodat(dirfd, e.Name(), uint32(st.Mode&0o7777)|0o666, 0)
		},
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
// devices (git cannot add them).
func scrubTree(ctx context.Context, dir string, lim treeLimits) error {
	return walkTree(ctx, dir, lim, visitor{
		dir: func(int) error { return nil },
		entry: func(dirfd int, e fs.DirEntry) (bool, error) {
			name, typ := e.Name(), e.Type()
			switch {
			case isGitName(name):
			case typ&fs.ModeSymlink != 0 && strings.EqualFold(name, ".gitmodules"):
			case !e.IsDir() && !typ.IsRegular() && typ&fs.ModeSymlink == 0:
			default:
				return false, nil
			}
			return true, removeAt(ctx, dirfd, name, e.IsDir())
		},
	})
}

// removeTree removes dir and everything under it, never following symlinks,
// however deep the tree. It has no deadline: a workspace must go, and the
// cost is linear in its entries.
func removeTree(dir string) error {
	parent, err := os.Open(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	name := filepath.Base(dir)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "fstatat", Path: dir, Err: err}
	}
	return removeAt(context.Background(), pfd, name, st.Mode&unix.S_IFMT == unix.S_IFDIR)
}

// removeAt removes name in the directory dirfd and, for a directory,
// everything under it, within ctx. It descends iteratively, whatever the
// depth, and makes writable (mode 0700) the directories a host without root
// privileges could not otherwise empty: read-only, sticky, or mode 0000.
func removeAt(ctx context.Context, dirfd int, name string, isDir bool) error {
	if !isDir {
		return unlinkAt(dirfd, name, 0)
	}
	return removeDirWith(newWalker(ctx), dirfd, name)
}

// removeDirWith removes the directory name in dirfd with the walker w.
func removeDirWith(w *walker, dirfd int, name string) error {
	f, fd, err := openUnlocking(dirfd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := w.start(f, fd, name); err != nil {
		return err
	}
	defer w.closeAll()
	if err := emptyDirs(w); err != nil {
		return err
	}
	return unlinkAt(dirfd, name, unix.AT_REMOVEDIR)
}

// emptyDirs removes everything under the walk's top directory, depth first.
func emptyDirs(w *walker) error {
	for len(w.stack) > 0 {
		fr := w.stack[len(w.stack)-1]
		e, err := w.next(fr)
		if errors.Is(err, io.EOF) {
			if len(w.stack) == 1 {
				return nil
			}
			name := fr.name
			if err := w.pop(); err != nil {
				return err
			}
			parent := w.stack[len(w.stack)-1]
			if err := unlinkAt(parent.fd, name, unix.AT_REMOVEDIR); err != nil {
				return err
			}
			parent.removed++
			continue
		}
		if err != nil {
			return err
		}
		if e.IsDir() {
			if _, err := w.push(e.Name(), openUnlocking); err != nil {
				return err
			}
			continue
		}
		if err := unlinkAt(fr.fd, e.Name(), 0); err != nil {
			return err
		}
		fr.removed++
	}
	return nil
}

// openUnlocking opens the directory name in dirfd, first giving it mode 0700
// if it may not be read or searched.
func openUnlocking(dirfd int, name string) (*os.File, int, error) {
	f, fd, err := openDirAt(dirfd, name)
	if !errors.Is(err, unix.EACCES) {
		return f, fd, err
	}
	// O_NOFOLLOW did not fail with ELOOP: name is a directory, not a link.
	if err := unix.Fchmodat(dirfd, name, 0o700, 0); err != nil {
		return nil, -1, &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return openDirAt(dirfd, name)
}

// unlinkAt removes name from dirfd (a directory with unix.AT_REMOVEDIR),
// giving dirfd mode 0700 and trying again if dirfd is read-only or sticky.
// A name already gone is not an error.
func unlinkAt(dirfd int, name string, flags int) error {
	unlink := func() error {
		return ignoringEINTR(func() error { return unix.Unlinkat(dirfd, name, flags) })
	}
	err := unlink()
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		if unix.Fchmod(dirfd, 0o700) == nil {
			err = unlink()
		}
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}

// ignoringEINTR calls f until it is not interrupted by a signal.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
