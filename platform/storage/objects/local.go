package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"syscall"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// localService names the local backend in derrors.Unavailable.
const localService = "object store"

// localHidden starts the names of the local backend's own files (temporary
// files of Put, the Ping probe). Keys may not contain '~', so these names never
// clash with objects and DeletePrefix does not count them.
const localHidden = "~"

// Local is a Store in a folder. Every key is a file at the same relative path.
// All file operations go through an os.Root, so no key, and no symlink planted
// inside the folder, can reach a file outside it.
//
// Durability: when Put or Append returns nil, the bytes survive a crash. Put
// writes a temporary file in the key's folder, fsyncs it, renames it over the
// key and fsyncs the folder. Append opens the file with O_APPEND, writes, and
// fsyncs it (and the folder, when the file is new) before returning. Folders
// a write creates are fsynced into their parents. A Get running during an
// Append may see part of that Append.
//
// Because keys are files and their segments folders, one key cannot be both an
// object and a prefix of another ("a" and "a/b"): the second write fails with
// an error wrapping derrors.ErrConflict. Use keys that S3 and a file system
// both accept.
type Local struct {
	dir string

	mu     sync.Mutex
	root   *os.Root // opened on first use
	closed bool
	keys   keyLocks // one AppendAt per key at a time
}

var _ Store = (*Local)(nil)

// NewLocal returns a Store keeping objects under dir. The folder is created
// on first use, not here.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("objects.NewLocal: empty folder")
	}
	return &Local{dir: dir}, nil
}

// Dir returns the folder that holds the objects.
func (l *Local) Dir() string { return l.dir }

// openRoot opens the folder once; a failure is retried on the next call.
func (l *Local) openRoot() (*os.Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("store is closed")
	}
	if l.root != nil {
		return l.root, nil
	}
	if err := os.MkdirAll(l.dir, 0o750); err != nil {
		return nil, derrors.Unavailable(localService, err)
	}
	r, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, derrors.Unavailable(localService, err)
	}
	l.root = r
	return r, nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, body io.Reader) (err error) {
	defer derrors.Wrap(&err, "objects.Local.Put(%q)", key)
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := l.openRoot()
	if err != nil {
		return err
	}
	dir := path.Dir(key)
	if err := ensureDir(root, dir); err != nil {
		return localErr(key, err)
	}
	tmp := path.Join(dir, localHidden+"put-"+randomHex())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return localErr(key, err)
	}
	defer func() {
		if err != nil { // nothing was renamed into place: drop the temporary file
			_ = f.Close()
			_ = root.Remove(tmp)
		}
	}()
	src := &ctxReader{ctx: ctx, r: body}
	if _, err := io.Copy(f, src); err != nil {
		if src.err != nil {
			return fmt.Errorf("read body: %w", src.err)
		}
		return localErr(key, err)
	}
	if err := f.Sync(); err != nil {
		return localErr(key, err)
	}
	if err := f.Close(); err != nil {
		return localErr(key, err)
	}
	if err := root.Rename(tmp, key); err != nil {
		return localErr(key, err)
	}
	if err := syncDir(root, dir); err != nil {
		return localErr(key, err)
	}
	return nil
}

// Get implements Store. The returned reader is the file itself: it reads up
// to the end of the file as it is when each read happens.
func (l *Local) Get(ctx context.Context, key string) (_ io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "objects.Local.Get(%q)", key)
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := l.openRoot()
	if err != nil {
		return nil, err
	}
	f, err := root.Open(key)
	if err != nil {
		if missing(err) {
			return nil, derrors.ErrNotFound
		}
		return nil, localErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, localErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, derrors.ErrNotFound
	}
	return f, nil
}

// GetRange implements Store.
func (l *Local) GetRange(ctx context.Context, key string, off, n int64) (_ io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "objects.Local.GetRange(%q, %d, %d)", key, off, n)
	if off < 0 {
		return nil, fmt.Errorf("negative offset %d", off)
	}
	rc, err := l.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, localErr(key, err)
	}
	if n < 0 {
		return f, nil
	}
	return &limitedFile{Reader: io.LimitReader(f, n), f: f}, nil
}

// limitedFile reads a range of a file and closes the file.
type limitedFile struct {
	io.Reader
	f *os.File
}

func (r *limitedFile) Close() error { return r.f.Close() }

// Size implements Store.
func (l *Local) Size(ctx context.Context, key string) (_ int64, err error) {
	defer derrors.Wrap(&err, "objects.Local.Size(%q)", key)
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	root, err := l.openRoot()
	if err != nil {
		return 0, err
	}
	fi, err := root.Stat(key)
	if err != nil {
		if missing(err) {
			return 0, derrors.ErrNotFound
		}
		return 0, localErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, derrors.ErrNotFound
	}
	return fi.Size(), nil
}

// AppendAt implements Store. It writes at the offset (pwrite), not at the
// file's end: a retry writes the same bytes at the same place. Bytes that
// an earlier attempt left at off are compared with p first.
func (l *Local) AppendAt(ctx context.Context, key string, off int64, p []byte) (err error) {
	defer derrors.Wrap(&err, "objects.Local.AppendAt(%q, %d)", key, off)
	if err := checkAppend(ctx, key, off); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	root, err := l.openRoot()
	if err != nil {
		return err
	}
	unlock := l.keys.lock(key)
	defer unlock()
	created := false
	f, err := root.OpenFile(key, os.O_RDWR, 0)
	if err != nil && missing(err) && off == 0 {
		if err := ensureDir(root, path.Dir(key)); err != nil {
			return localErr(key, err)
		}
		f, err = root.OpenFile(key, os.O_RDWR|os.O_CREATE, 0o640)
		created = true
	}
	if err != nil {
		if missing(err) {
			return errGap(key, off, 0)
		}
		return localErr(key, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = localErr(key, cerr)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return localErr(key, err)
	}
	size := fi.Size()
	if off > size {
		return errGap(key, off, size)
	}
	if have := min(size-off, int64(len(p))); have > 0 {
		stored := make([]byte, have)
		if _, err := f.ReadAt(stored, off); err != nil {
			return localErr(key, err)
		}
		if !bytes.Equal(stored, p[:have]) {
			return errOverwrite(key, off)
		}
		off, p = off+have, p[have:]
	}
	if len(p) > 0 {
		if _, err := f.WriteAt(p, off); err != nil {
			return localErr(key, err)
		}
	}
	if err := f.Sync(); err != nil {
		return localErr(key, err)
	}
	if created {
		if err := syncDir(root, path.Dir(key)); err != nil {
			return localErr(key, err)
		}
	}
	return nil
}

// DeletePrefix implements Store. It removes files one by one and counts those
// it removed, then the folders that became empty.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) (n int, err error) {
	defer derrors.Wrap(&err, "objects.Local.DeletePrefix(%q)", prefix)
	p, err := cleanPrefix(prefix)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	root, err := l.openRoot()
	if err != nil {
		return 0, err
	}
	fi, err := root.Lstat(p)
	if err != nil {
		if missing(err) {
			return 0, nil
		}
		return 0, localErr(p, err)
	}
	if !fi.IsDir() {
		if err := root.Remove(p); err != nil {
			if missing(err) {
				return 0, nil
			}
			return 0, localErr(p, err)
		}
		if fi.Mode().IsRegular() && validSegmentName(fi.Name()) {
			return 1, nil
		}
		return 0, nil
	}

	var dirs []string
	walkErr := fs.WalkDir(root.FS(), p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if missing(err) {
				return nil // removed by someone else meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, name)
			return nil
		}
		if err := root.Remove(name); err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && validSegmentName(d.Name()) {
			n++
		}
		return nil
	})
	if walkErr != nil {
		if errors.Is(walkErr, context.Canceled) || errors.Is(walkErr, context.DeadlineExceeded) {
			return n, walkErr
		}
		return n, localErr(p, walkErr)
	}
	// Deepest folders first. A folder that is not empty got a new object
	// while we worked; it stays.
	for _, d := range slices.Backward(dirs) {
		if err := root.Remove(d); err != nil && !missing(err) && !notEmpty(err) {
			return n, localErr(d, err)
		}
	}
	return n, nil
}

// Ping implements Store: the folder must exist (it is created if needed) and
// accept a new file.
func (l *Local) Ping(ctx context.Context) (err error) {
	defer derrors.Wrap(&err, "objects.Local.Ping")
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := l.openRoot()
	if err != nil {
		return err
	}
	probe := localHidden + "ping-" + randomHex()
	f, err := root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return derrors.Unavailable(localService, err)
	}
	_ = f.Close()
	if err := root.Remove(probe); err != nil {
		return derrors.Unavailable(localService, err)
	}
	return nil
}

// Close implements Store.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.root == nil {
		return nil
	}
	err := l.root.Close()
	l.root = nil
	if err != nil {
		return fmt.Errorf("objects.Local.Close: %w", err)
	}
	return nil
}

// ensureDir creates dir if it is missing, and then makes the new folders
// durable by syncing every folder above it.
func ensureDir(root *os.Root, dir string) error {
	if fi, err := root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := root.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for d := dir; d != "."; {
		d = path.Dir(d)
		if err := syncDir(root, d); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// missing reports whether err says a path does not exist, including a
// missing folder replaced by a file ("a/b" when "a" is a file).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// localErr classifies a file system error: a key that clashes with a folder
// or file is a conflict; any other system error is the store's failure
// (unavailable); an error without an errno is os.Root refusing a path that
// leaves the folder, which is neither.
func localErr(key string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, syscall.EEXIST):
		return derrors.Conflict("object key "+key, err)
	case errors.As(err, &errno):
		return derrors.Unavailable(localService, err)
	default:
		return err
	}
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// keyLocks serialises work on one key, forgetting keys nobody holds.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes key's lock and returns its release.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		defer k.mu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
	}
}
