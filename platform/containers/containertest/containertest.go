// Package containertest gives tests a real Docker engine: a Runtime on the
// local daemon (skipping locally, failing under CI when there is none), a tiny
// busybox image built without any registry, and per-test instance ids whose
// containers are removed when the test ends.
package containertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// BusyboxPath is where Debian's busybox-static package installs the binary.
const BusyboxPath = "/bin/busybox"

// ImageRepo is the repository of the test image; the tag is a content hash.
const ImageRepo = "slipway-test-busybox"

// applets are linked to busybox in the test image's /bin.
var applets = []string{
	"sh", "ash", "base64", "cat", "cut", "dd", "echo", "env", "false", "grep", "head", "id",
	"kill", "ls", "mkdir", "printf", "ps", "rm", "sed", "seq", "sha256sum", "sleep", "sort",
	"tail", "tee", "test", "touch", "tr", "true", "wc", "[",
	// network probes for the egress tests
	"nc", "wget",
}

// The image's /etc/passwd and /etc/group: root for completeness and nobody, the
// Runtime's default user.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// Host returns the Docker endpoint tests use: $DOCKER_HOST, or the default
// socket.
func Host() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return containers.DefaultHost
}

// Runtime returns a Runtime on the local engine with cfg (Host defaults to
// Host()), closed at cleanup. When the engine does not answer, the test is
// skipped, or failed under CI.
func Runtime(t testing.TB, cfg containers.Config) *containers.Runtime {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = Host()
	}
	rt, err := containers.New(cfg)
	if err != nil {
		t.Fatalf("containertest.Runtime: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Ping(ctx); err != nil {
		testenv.Unavailable(t, "docker engine at %s: %v", cfg.Host, err)
	}
	return rt
}

// Image returns the name of the test image, importing it into the engine the
// first time: a static busybox, its applet links and a passwd file, in a tar
// built here and imported through the API, so no registry is needed. The tag
// is a hash of the content, so a changed busybox or layout makes a new image
// and an unchanged one is imported once per engine.
func Image(t testing.TB, rt *containers.Runtime) string {
	t.Helper()
	return ImageWith(t, rt)
}

// ImageWith is Image with Dockerfile instructions applied at the import,
// such as "VOLUME /data"; they are part of the tag's hash.
func ImageWith(t testing.TB, rt *containers.Runtime, changes ...string) string {
	t.Helper()
	layer, err := buildLayer(Busybox(t))
	if err != nil {
		t.Fatalf("containertest.ImageWith: %v", err)
	}
	h := sha256.New()
	h.Write(layer)
	for _, c := range changes {
		h.Write([]byte("\x00" + c))
	}
	ref := ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16]

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rt.Client().ImageInspect(ctx, ref); err == nil {
		return ref
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("containertest.Image: inspect %s: %v", ref, err)
	}
	// Parallel tests may import the same content at once; the second import
	// only re-tags identical content.
	out, err := rt.Client().ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(layer), SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		t.Fatalf("containertest.Image: import %s: %v", ref, err)
	}
	defer out.Close()
	if err := containers.ReadImportProgress(out); err != nil {
		t.Fatalf("containertest.Image: import %s: %v", ref, err)
	}
	return ref
}

// Busybox returns the static busybox binary images are built from; without
// it (Debian's busybox-static) the test stops through testenv.Unavailable.
func Busybox(t testing.TB) []byte {
	t.Helper()
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		testenv.Unavailable(t, "busybox-static (%s): %v", BusyboxPath, err)
	}
	if err := checkStatic(BusyboxPath); err != nil {
		testenv.Unavailable(t, "busybox-static: %v", err)
	}
	return bin
}

// checkStatic fails for a dynamically linked binary, which would not run in
// an image without a libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install busybox-static", path)
		}
	}
	return nil
}

// buildLayer writes a deterministic tar (fixed times and owners), so that the
// same busybox always hashes to the same tag.
func buildLayer(busybox []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime, h.Uid, h.Gid, h.Format = epoch, 0, 0, tar.FormatPAX
		if body != nil {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	dirs := []struct {
		name string
		mode int64
	}{
		{"bin/", 0o755}, {"etc/", 0o755}, {"tmp/", 0o1777}, {"workspace/", 0o755},
		{"proc/", 0o555}, {"sys/", 0o555}, {"dev/", 0o755},
	}
	for _, d := range dirs {
		if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644}, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644}, []byte(group)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Instance returns a fresh instance id for this test and removes every
// container labelled with it when the test ends, passed or not.
func Instance(t testing.TB, rt *containers.Runtime) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := RemoveInstance(ctx, rt, id); err != nil {
			t.Errorf("containertest: removing containers of %s: %v", id, err)
		}
	})
	return id
}

// RemoveInstance removes every managed container of instanceID.
func RemoveInstance(ctx context.Context, rt *containers.Runtime, instanceID string) error {
	list, err := rt.List(ctx, containers.Filter{InstanceID: instanceID})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		if err := rt.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Workspace returns a fresh host directory that the container user can write
// (mode 0777: tests may run as root, containers never do).
func Workspace(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatalf("containertest.Workspace: %v", err)
	}
	return dir
}
