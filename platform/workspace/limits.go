package workspace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// How a Manager holds its workspaces to Config.MaxBytes and MaxFiles.
const (
	// ModeAuto is ModeMount where this process can mount a filesystem
	// image, else ModeScan.
	ModeAuto = "auto"
	// ModeMount gives each workspace a filesystem of its own: a sparse
	// ext4 image of MaxBytes with about MaxFiles inodes, loop-mounted
	// nosuid,nodev on the run directory. Writes past a limit fail inside
	// the container (no space left on device) and the host's disk never
	// gives a workspace more than MaxBytes. It needs root (CAP_SYS_ADMIN),
	// loop devices and mkfs.ext4 (e2fsprogs).
	ModeMount = "mount"
	// ModeScan keeps workspaces as plain directories and measures them
	// with a bounded walk whenever Check finds it due: a workspace can
	// pass a limit by what the agent writes before the next walk ends.
	ModeScan = "scan"
)

// The limits a workspace can reach.
const (
	LimitBytes = "bytes"
	LimitFiles = "files"
	// LimitDepth and LimitEntries are Config.MaxTreeDepth and
	// MaxTreeEntries, which bound every walk over a workspace: ModeScan's
	// walk stops there, so a workspace past them cannot be measured and
	// counts as past a limit.
	LimitDepth   = "depth"
	LimitEntries = "entries"
)

// ErrNoRoom means the workspace filesystem lacks the free space that the
// workspaces already in use may still take plus a new one's MaxBytes:
// Prepare refuses rather than let workspaces fill the host's disk.
var ErrNoRoom = errors.New("not enough free disk space for another workspace")

// errUnsupported is the answer of what this system cannot do (filesystem
// images and counters outside Linux).
var errUnsupported = errors.New("workspace filesystems need Linux")

// LimitError says a workspace reached one of its limits.
type LimitError struct {
	Limit string // LimitBytes, LimitFiles, LimitDepth or LimitEntries
	Max   int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitDepth:
		return fmt.Sprintf("workspace nests directories deeper than the limit of %d", e.Max)
	case LimitEntries:
		return fmt.Sprintf("workspace has more entries than the limit of %d", e.Max)
	}
	return fmt.Sprintf("workspace reached its limit of %d %s", e.Max, e.Limit)
}

// Usage is what a workspace holds on disk: its clone, git metadata and
// everything the agent wrote.
type Usage struct {
	Bytes int64
	Files int64
}

// maxScanAge is how long ModeScan's Check trusts a walk when the free
// space and inodes of the filesystem say the workspace cannot have reached
// a limit since.
const maxScanAge = 5 * time.Second

// scanState is what the last walk of a ModeScan workspace found, with the
// free space of the filesystem at that time.
type scanState struct {
	at        time.Time
	usage     Usage
	hostBytes int64 // free bytes of the filesystem then
	hostFiles int64 // free inodes then
}

// Check reports a limit the workspace has reached, cheaply enough to call
// every fraction of a second while the agent runs. In ModeMount it reads
// the workspace filesystem's counters. In ModeScan it walks the workspace
// when the last walk is older than a few seconds, or when the host
// filesystem has lost more space or inodes since than the workspace had
// left: growth anywhere on the host makes it walk sooner, never later.
func (w *Workspace) Check(ctx context.Context) (_ *LimitError, err error) {
	defer derrors.Wrap(&err, "workspace.Check(%q)", w.runID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return nil, ErrRemoved
	}
	if !w.m.limited() {
		return nil, nil
	}
	if w.mounted {
		_, le, err := w.measure(ctx)
		return le, err
	}
	host, err := statFS(w.dir)
	last := w.scan
	if err == nil && !last.at.IsZero() && time.Since(last.at) < maxScanAge &&
		(w.m.cfg.MaxBytes == 0 || last.hostBytes-host.freeBytes < w.m.cfg.MaxBytes-last.usage.Bytes) &&
		(w.m.cfg.MaxFiles == 0 || last.hostFiles-host.freeFiles < w.m.cfg.MaxFiles-last.usage.Files) {
		return nil, nil
	}
	_, le, err := w.measure(ctx)
	return le, err
}

// Measure returns what the workspace holds and the limit it has reached,
// if any, by its filesystem's counters (ModeMount) or a walk that stops
// just past a limit (ModeScan).
func (w *Workspace) Measure(ctx context.Context) (_ Usage, _ *LimitError, err error) {
	defer derrors.Wrap(&err, "workspace.Measure(%q)", w.runID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return Usage{}, nil, ErrRemoved
	}
	return w.measure(ctx)
}

// fullMargin is how close to its size a ModeMount workspace may come before
// it counts as full: the last blocks go to the filesystem's own metadata
// before a writer sees "no space left", so a full filesystem rarely shows
// zero free bytes.
func (m *Manager) fullMargin() int64 { return min(1<<20, m.cfg.MaxBytes/64) }

// measure is Measure with w.mu held.
func (w *Workspace) measure(ctx context.Context) (Usage, *LimitError, error) {
	cfg := w.m.cfg
	if w.mounted {
		st, err := statFS(w.dir)
		if err != nil {
			return Usage{}, nil, err
		}
		u := Usage{Bytes: st.usedBytes, Files: st.usedFiles}
		switch {
		case st.freeFiles == 0:
			return u, &LimitError{Limit: LimitFiles, Max: cfg.MaxFiles}, nil
		case st.freeBytes < w.m.fullMargin():
			return u, &LimitError{Limit: LimitBytes, Max: cfg.MaxBytes}, nil
		}
		return u, nil, nil
	}
	host, _ := statFS(w.dir) // before the walk: growth during it triggers the next
	u, le, err := scanUsage(ctx, w.dir, cfg.MaxBytes, cfg.MaxFiles, w.m.treeLimits())
	if err != nil {
		return Usage{}, nil, err
	}
	w.scan = scanState{at: time.Now(), usage: u, hostBytes: host.freeBytes, hostFiles: host.freeFiles}
	w.used.Store(u.Bytes)
	return u, le, nil
}

// scanUsage walks dir without following symlinks and adds up its entries
// (dir itself included) and their sizes (the larger of the apparent size and
// the blocks used, so that a sparse file counts as what git would read from
// it). It stops as soon as it passes a limit (0: none), so one walk visits at
// most maxFiles+1 entries. The walk is walkTree's, by descriptor and linear
// in the tree whatever its depth, within lim. Depth counts from dir's
// children, as a run directory's tree (the agent's /workspace) is one of
// them and the other walks count from the tree. A tree deeper or larger than
// lim is a LimitDepth or LimitEntries limit: the walk cannot say what lies
// beyond. Entries removed while it walks are passed over.
func scanUsage(ctx context.Context, dir string, maxBytes, maxFiles int64, lim treeLimits) (Usage, *LimitError, error) {
	var u Usage
	var le *LimitError
	errStop := errors.New("stop")
	// add counts one entry and its size, if it is still there.
	add := func(st *unix.Stat_t, err error) error {
		u.Files++
		if err == nil {
			u.Bytes += max(st.Size, st.Blocks*512)
		}
		switch {
		case maxFiles > 0 && u.Files > maxFiles:
			le = &LimitError{Limit: LimitFiles, Max: maxFiles}
		case maxBytes > 0 && u.Bytes > maxBytes:
			le = &LimitError{Limit: LimitBytes, Max: maxBytes}
		default:
			return nil
		}
		return errStop
	}
	walkLim := lim
	if walkLim.depth > 0 {
		walkLim.depth++ // dir's children are the tops
	}
	top := true
	err := walkTree(ctx, dir, walkLim, visitor{
		dir: func(fd int) error {
			if !top {
				return nil // counted as an entry of its parent
			}
			top = false
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return &fs.PathError{Op: "fstat", Path: dir, Err: err}
			}
			return add(&st, nil)
		},
		entry: func(dirfd int, e fs.DirEntry) (bool, error) {
			var st unix.Stat_t
			err := ignoringEINTR(func() error {
				return unix.Fstatat(dirfd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW)
			})
			if err != nil && !errors.Is(err, unix.ENOENT) {
				return false, &fs.PathError{Op: "fstatat", Path: e.Name(), Err: err}
			}
			// Gone (ENOENT): counted, as the walk saw it, but not entered.
			return err != nil, add(&st, err)
		},
		live: true,
	})
	var tle *TreeLimitError
	switch {
	case errors.Is(err, errStop):
		err = nil
	case errors.As(err, &tle) && tle.Limit == LimitDepth:
		le, err = &LimitError{Limit: LimitDepth, Max: int64(lim.depth)}, nil
	case errors.As(err, &tle):
		le, err = &LimitError{Limit: LimitEntries, Max: int64(tle.Max)}, nil
	}
	return u, le, err
}

// limited reports whether the manager bounds its workspaces at all.
func (m *Manager) limited() bool { return m.cfg.MaxBytes > 0 || m.cfg.MaxFiles > 0 }

// fsStats are a filesystem's counters, as an unprivileged user sees them.
type fsStats struct {
	freeBytes, usedBytes int64
	freeFiles, usedFiles int64
}

// checkRoom refuses a new workspace when the free space of the filesystem
// holding Root is less than what the workspaces in use may still grow by
// plus the new one's MaxBytes. Called with m.mu held.
func (m *Manager) checkRoom() error {
	if m.cfg.MaxBytes == 0 {
		return nil
	}
	st, err := statFS(m.cfg.Root)
	if errors.Is(err, errUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	need := m.cfg.MaxBytes
	for _, w := range m.live {
		var used int64
		if w != nil { // nil: still being prepared
			used = w.used.Load()
			if w.mounted {
				used = allocated(w.image)
			}
		}
		need += max(m.cfg.MaxBytes-used, 0)
	}
	if free := st.freeBytes; free < need {
		return fmt.Errorf("%w: %d bytes free, %d needed", ErrNoRoom, free, need)
	}
	return nil
}

// allocated is the disk space a file takes (0 when it cannot be read).
func allocated(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// imageSuffix ends the name of a workspace's filesystem image, which lies
// beside its run directory: <Root>/<runID>.img.
const imageSuffix = ".img"

// Root is the directory holding the workspaces.
func (m *Manager) Root() string { return m.cfg.Root }

func (m *Manager) imagePath(runID string) string {
	return filepath.Join(m.cfg.Root, runID+imageSuffix)
}

// probeBytes and probeFiles size the filesystem Probe mounts under
// Root, in a directory named probePrefix and a random suffix.
const (
	probePrefix = ".probe-"
	probeBytes  = 16 << 20
	probeFiles  = 64
)

// Probe settles the mode of ModeAuto, once: ModeMount when this process
// can make, mount and write a small workspace filesystem under Root, else
// ModeScan with note saying why not. Under ModeMount, failing to do so is
// the error. Prepare probes when nobody did; call it at start to log the
// mode and fail early.
func (m *Manager) Probe(ctx context.Context) (mode, note string, err error) {
	m.probeOnce.Do(func() {
		// The answer is kept: a caller giving up must not decide it.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		m.mode, m.modeNote, m.probeErr = m.probe(pctx)
	})
	return m.mode, m.modeNote, m.probeErr
}

func (m *Manager) probe(ctx context.Context) (string, string, error) {
	if m.cfg.Mode == ModeScan {
		return ModeScan, "", nil
	}
	if m.cfg.MaxBytes == 0 {
		return ModeScan, "no byte limit to size a filesystem with", nil
	}
	err := m.tryMount(ctx)
	switch {
	case err == nil:
		return ModeMount, "", nil
	case m.cfg.Mode == ModeMount:
		return "", "", fmt.Errorf("workspace: mode mount: %w", err)
	}
	return ModeScan, err.Error(), nil
}

// tryMount makes, mounts, writes and removes a small filesystem under Root.
func (m *Manager) tryMount(ctx context.Context) (err error) {
	if err := os.MkdirAll(m.cfg.Root, 0o700); err != nil {
		return err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dir := filepath.Join(m.cfg.Root, probePrefix+hex.EncodeToString(b))
	image := dir + imageSuffix
	defer func() {
		if rmErr := removeRun(dir, image); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	mkfs, err := findMkfs()
	if err != nil {
		return err
	}
	if err := makeFS(ctx, mkfs, image, probeBytes, probeFiles); err != nil {
		return err
	}
	if err := mountFS(image, dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "probe"), []byte("ok"), 0o600)
}

// mount gives the run directory its own filesystem.
func (m *Manager) mount(ctx context.Context, dir, image string) error {
	mkfs, err := findMkfs()
	if err != nil {
		return err
	}
	if err := makeFS(ctx, mkfs, image, m.cfg.MaxBytes, m.cfg.MaxFiles); err != nil {
		return err
	}
	if err := mountFS(image, dir); err != nil {
		return err
	}
	// The filesystem's root is 0755; the run directory stays the host's.
	return os.Chmod(dir, 0o700)
}

// removeRun removes a run directory, unmounting it first when it is a
// workspace filesystem, and its image.
func removeRun(dir, image string) error {
	if isMountPoint(dir) {
		if err := unmountFS(dir); err != nil {
			return err
		}
		if isMountPoint(dir) {
			return fmt.Errorf("%s is still mounted", dir)
		}
	}
	if err := removeTree(dir); err != nil {
		return err
	}
	if err := os.Remove(image); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
