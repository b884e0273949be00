package objects_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/objects/objectstest"
)

// newLocalBacking gives each test its own folder, created by the store itself.
func newLocalBacking(tb testing.TB) func() objects.Store {
	dir := filepath.Join(tb.TempDir(), "objects")
	return func() objects.Store { return openLocal(tb, dir) }
}

func openLocal(tb testing.TB, dir string) *objects.Local {
	tb.Helper()
	s, err := objects.NewLocal(dir)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	return s
}

func TestLocalContract(t *testing.T) {
	objectstest.Run(t, newLocalBacking)
}

func BenchmarkLocal(b *testing.B) {
	objectstest.Bench(b, newLocalBacking)
}

func TestLocalRefusesTraversal(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "objects")
	outside := filepath.Join(base, "outside")
	require.NoError(t, os.MkdirAll(outside, 0o750))
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))

	s := openLocal(t, dir)
	require.NoError(t, s.Ping(ctx)) // creates the folder

	// Someone with access to the folder plants links that lead out of it.
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "abs")))
	require.NoError(t, os.Symlink("../outside", filepath.Join(dir, "rel")))
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "leak")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "runs", "1"), 0o750))
	require.NoError(t, os.Symlink("../../../outside", filepath.Join(dir, "runs", "1", "deep")))

	for _, key := range []string{"abs/secret", "rel/secret", "leak", "runs/1/deep/secret"} {
		t.Run(key, func(t *testing.T) {
			r, err := s.Get(ctx, key)
			if err == nil {
				r.Close()
			}
			require.Error(t, err, "read through a planted link")
			require.NotErrorIs(t, err, derrors.ErrUnavailable, "a refused path is not an outage")

			require.Error(t, s.AppendAt(ctx, key, 0, []byte("appended")))
			if key != "leak" { // Put replaces the link itself, tested below
				require.Error(t, s.Put(ctx, key, strings.NewReader("overwritten")))
			}
			got, err := os.ReadFile(secret)
			require.NoError(t, err)
			require.Equal(t, "secret", string(got))
		})
	}

	for _, key := range []string{"abs/new", "rel/new/deeper", "runs/1/deep/new"} {
		require.Error(t, s.Put(ctx, key, strings.NewReader("x")), key)
		require.Error(t, s.AppendAt(ctx, key, 0, []byte("x")), key)
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing may be created outside the folder")

	// Deleting a prefix through a link refuses; deleting the link removes
	// only the link.
	_, err = s.DeletePrefix(ctx, "abs/secret")
	require.Error(t, err)
	n, err := s.DeletePrefix(ctx, "rel")
	require.NoError(t, err)
	require.Zero(t, n, "a link is not an object")
	n, err = s.DeletePrefix(ctx, "runs")
	require.NoError(t, err)
	require.Zero(t, n)
	require.FileExists(t, secret)

	// Put over a link to a file replaces the link, not the file it names.
	require.NoError(t, s.Put(ctx, "leak", strings.NewReader("mine")))
	require.Equal(t, []byte("mine"), objectstest.ReadAll(t, s, "leak"))
	got, err := os.ReadFile(secret)
	require.NoError(t, err)
	require.Equal(t, "secret", string(got))
}

func TestLocalKeyClash(t *testing.T) {
	ctx := context.Background()
	s := newLocalBacking(t)()
	require.NoError(t, s.Put(ctx, "a", strings.NewReader("file")))
	require.ErrorIs(t, s.Put(ctx, "a/b", strings.NewReader("x")), derrors.ErrConflict)
	require.ErrorIs(t, s.AppendAt(ctx, "a/b", 0, []byte("x")), derrors.ErrConflict)
	require.NoError(t, s.Put(ctx, "d/x", strings.NewReader("x")))
	require.ErrorIs(t, s.Put(ctx, "d", strings.NewReader("x")), derrors.ErrConflict)
	require.ErrorIs(t, s.AppendAt(ctx, "d", 0, []byte("x")), derrors.ErrConflict)
	require.Equal(t, []byte("file"), objectstest.ReadAll(t, s, "a"))
	require.Equal(t, []byte("x"), objectstest.ReadAll(t, s, "d/x"))
}

func TestLocalLeavesNoTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "objects")
	s := openLocal(t, dir)
	require.NoError(t, s.Put(ctx, "p/ok", strings.NewReader("ok")))
	require.Error(t, s.Put(ctx, "p/bad", failingReader{}))
	require.NoError(t, s.Ping(ctx))
	var names []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	}))
	require.Equal(t, []string{"p/ok"}, names)
}

func TestLocalDeletePrefixRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "objects")
	s := openLocal(t, dir)
	require.NoError(t, s.Put(ctx, "runs/1/patch", strings.NewReader("x")))
	// A Put interrupted by a crash leaves its temporary file behind.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "runs", "1", "~put-0123"), []byte("half"), 0o600))
	n, err := s.DeletePrefix(ctx, "runs/1")
	require.NoError(t, err)
	require.Equal(t, 1, n, "leftovers are removed but not counted")
	require.NoDirExists(t, filepath.Join(dir, "runs", "1"))
	require.DirExists(t, filepath.Join(dir, "runs"))
}

func TestLocalUnavailable(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "not-a-folder")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, dir := range []string{file, filepath.Join(file, "objects")} {
		s := openLocal(t, dir)
		require.ErrorIs(t, s.Ping(ctx), derrors.ErrUnavailable)
		require.ErrorIs(t, s.Put(ctx, "k", strings.NewReader("x")), derrors.ErrUnavailable)
		require.ErrorIs(t, s.AppendAt(ctx, "k", 0, []byte("x")), derrors.ErrUnavailable)
		_, err := s.Get(ctx, "k")
		require.ErrorIs(t, err, derrors.ErrUnavailable)
		_, err = s.DeletePrefix(ctx, "k")
		require.ErrorIs(t, err, derrors.ErrUnavailable)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }
