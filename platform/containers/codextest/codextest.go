// Package codextest gives tests an agent image with the real Codex CLI: the
// pinned build (configs/agent/codex.env) that .ci/codex.sh keeps in the
// machine's cache, imported with busybox into a base image once per engine,
// and small per-test images on top of it that carry a test's CA and Codex
// configuration.
package codextest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/slipwayhq/slipway/configs"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// ImageRepo is the repository of the base image; its tag is a hash of the
// content (the pinned tarball, busybox and the layout below).
const ImageRepo = "slipway-test-codex"

// derivedRepo is the repository of the per-test images, removed by the test.
const derivedRepo = "slipway-test-codex-run"

// Home is the agent's home and CODEX_HOME, as in the production image
// (configs/agent/Dockerfile): a VOLUME, so a fresh writable tmpfs at every
// run under Slipway. Codex keeps its state there, and will not keep
// helpers under /tmp.
const Home = "/home/agent"

// Pin is the Codex CLI build of configs/agent/codex.env.
type Pin struct {
	Version string // CODEX_VERSION
	Tarball string // CODEX_TARBALL, the npm registry's URL of the linux-x64 package
	SHA256  string // CODEX_SHA256 of that tarball, in hex
}

// LoadPin parses configs/agent/codex.env: KEY=value lines, # comments.
func LoadPin() (Pin, error) {
	env, err := configs.Agent.ReadFile("agent/codex.env")
	if err != nil {
		return Pin{}, err
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(env))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Pin{}, fmt.Errorf("codex.env: line %q is not KEY=value", line)
		}
		vals[k] = v
	}
	p := Pin{Version: vals["CODEX_VERSION"], Tarball: vals["CODEX_TARBALL"], SHA256: strings.ToLower(vals["CODEX_SHA256"])}
	if p.Version == "" || p.Tarball == "" || len(p.SHA256) != sha256.Size*2 {
		return Pin{}, fmt.Errorf("codex.env: CODEX_VERSION, CODEX_TARBALL and a hex CODEX_SHA256 are required")
	}
	return p, nil
}

// CachePath is where .ci/codex.sh keeps the tarball:
// ${XDG_CACHE_HOME:-$HOME/.cache}/slipway/codex-<version>-linux-x64.tgz.
func (p Pin) CachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "slipway", "codex-"+p.Version+"-linux-x64.tgz"), nil
}

// Tarball returns the pin and the path of its cached tarball, checked
// against the pin's sha256. Without it the test stops through
// testenv.Unavailable (a skip locally, a failure under CI); a file that is
// not the pinned build fails the test.
func Tarball(t testing.TB) (Pin, string) {
	t.Helper()
	pin, err := LoadPin()
	if err != nil {
		t.Fatalf("codextest: %v", err)
	}
	path, err := pin.CachePath()
	if err != nil {
		testenv.Unavailable(t, "the Codex CLI: no cache directory: %v (run go tool task codex)", err)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Unavailable(t, "the Codex CLI %s is not in %s: run go tool task codex", pin.Version, path)
	}
	if err != nil {
		t.Fatalf("codextest: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("codextest: reading %s: %v", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pin.SHA256 {
		t.Fatalf("codextest: %s has sha256 %s, the pin says %s: delete it and run go tool task codex", path, got, pin.SHA256)
	}
	return pin, path
}

// The base image's layout. Everything that decides its content is here or
// in the pinned tarball and busybox, and all of it goes into the tag.
var (
	// applets are linked to busybox in /bin: a shell and the tools Codex's
	// commands and the tests use.
	applets = []string{
		"sh", "ash", "cat", "cp", "cut", "echo", "env", "false", "find", "grep", "head", "id",
		"ls", "mkdir", "mv", "printf", "pwd", "rm", "sed", "sleep", "sort", "tail", "test",
		"touch", "tr", "true", "uname", "wc", "which", "[",
	}
	dirs = []struct {
		name string
		mode int64
	}{
		{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"etc/codex/", 0o755},
		{"etc/ssl/", 0o755}, {"etc/ssl/certs/", 0o755}, {"home/", 0o755},
		{strings.TrimPrefix(Home, "/") + "/", 0o1777},
		{"opt/", 0o755}, {"opt/codex/", 0o755}, {"opt/codex/bin/", 0o755}, {"opt/codex/codex-path/", 0o755},
		{"proc/", 0o555}, {"sys/", 0o555}, {"tmp/", 0o1777}, {"workspace/", 0o755},
	}
	// files are the small files.
	files = []struct {
		name, body string
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:" + Home + ":/bin/sh\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
	}
	// vendored maps the files taken from the npm package to their place,
	// where the production image has them. codex-code-mode-host runs the
	// JavaScript of the default model's "code mode", and Codex looks for it
	// beside itself. It adds 67 MB to the image and half a second to the
	// import (4.5 s without it, 5 s with it, once per engine), so every
	// test image has it rather than a second cached image without it.
	vendored = map[string]string{
		"package/vendor/x86_64-unknown-linux-musl/bin/codex":                "opt/codex/bin/codex",
		"package/vendor/x86_64-unknown-linux-musl/bin/codex-code-mode-host": "opt/codex/bin/codex-code-mode-host",
		"package/vendor/x86_64-unknown-linux-musl/codex-path/rg":            "opt/codex/codex-path/rg",
		"package/vendor/x86_64-unknown-linux-musl/codex-package.json":       "opt/codex/codex-package.json",
	}
	// changes are the image's settings, those of the production image.
	changes = []string{
		"ENV PATH=/opt/codex/bin:/opt/codex/codex-path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV HOME=" + Home,
		"ENV CODEX_HOME=" + Home,
		"VOLUME " + Home,
		"USER 65534:65534",
		"WORKDIR /workspace",
	}
)

// BaseImage returns the base image with the pinned Codex CLI, importing it
// the first time on this engine: a tar streamed from the cached tarball (the
// 385 MB of binaries are never held in memory) with busybox for a shell and
// tools, and Codex laid out and set up as in the production image. It has
// no CA and no Codex configuration: Derive adds a test's.
func BaseImage(t testing.TB, rt *containers.Runtime) string {
	t.Helper()
	pin, tgz := Tarball(t)
	busybox := containertest.Busybox(t)

	h := sha256.New()
	fmt.Fprintf(h, "codex %s\n", pin.SHA256)
	fmt.Fprintf(h, "busybox %x\n", sha256.Sum256(busybox))
	fmt.Fprintf(h, "%q\n%v\n%q\n%q\n%q\n", applets, dirs, files, sortedPairs(vendored), changes)
	ref := ImageRepo + ":" + pin.Version + "-" + hex.EncodeToString(h.Sum(nil))[:12]

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := rt.Client().ImageInspect(ctx, ref); err == nil {
		return ref
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("codextest: inspect %s: %v", ref, err)
	}
	began := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeLayer(pw, tgz, busybox)) }()
	// Parallel imports of the same content only re-tag it.
	out, err := rt.Client().ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		pr.CloseWithError(err)
		t.Fatalf("codextest: import %s: %v", ref, err)
	}
	defer out.Close()
	err = containers.ReadImportProgress(out)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if the engine gave up early
	if err != nil {
		t.Fatalf("codextest: import %s: %v", ref, err)
	}
	t.Logf("codextest: imported %s in %s", ref, time.Since(began).Round(time.Millisecond))
	return ref
}

// sortedPairs lists m's entries in order, so the tag does not depend on
// map order.
func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// writeLayer writes the base image's layer to w: deterministic headers
// (fixed times, numeric owners), the vendored files copied from the
// tarball's stream.
func writeLayer(w io.Writer, tgz string, busybox []byte) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	hdr := func(h *tar.Header) *tar.Header {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		return h
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode})); err != nil {
			return err
		}
	}
	small := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))})); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := small("bin/busybox", 0o755, busybox); err != nil {
		return err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := small(f.name, 0o644, []byte(f.body)); err != nil {
			return err
		}
	}

	zr, err := gunzip(tgz)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	found := 0
	for found < len(vendored) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s lacks %d of %q", tgz, len(vendored)-found, sortedPairs(vendored))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tgz, err)
		}
		dest, ok := vendored[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		found++
		mode := int64(0o755)
		if strings.HasSuffix(dest, ".json") {
			mode = 0o644
		}
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeReg, Name: dest, Mode: mode, Size: h.Size})); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("%s: %s: %w", tgz, h.Name, err)
		}
	}
	return tw.Close()
}

// gunzip streams the decompressed tarball. gzip(1) does it when present:
// Go's inflate under the race detector, as the tests run, takes half a
// minute for the 400 MB, gzip a few seconds.
func gunzip(tgz string) (io.ReadCloser, error) {
	if gz, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.Command(gz, "-dc", tgz)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &gzipCmd{ReadCloser: out, cmd: cmd}, nil
	}
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", tgz, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// gzipCmd is gzip's output. Close ends gzip (the layer needs only the
// files it found, not the rest of the stream) and waits for it; a broken
// stream shows as the tar reader's error.
type gzipCmd struct {
	io.ReadCloser
	cmd *exec.Cmd
}

func (g *gzipCmd) Close() error {
	g.ReadCloser.Close()
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
	return nil
}

// File is one file Derive puts into an image.
type File struct {
	Path string // absolute path in the image
	Body []byte
	Mode int64 // 0: 0644
}

// Derive builds a small image FROM base with files added and env set (the
// legacy builder: only a COPY layer on top of base) and removes it when
// the test ends.
func Derive(t testing.TB, rt *containers.Runtime, base string, env map[string]string, files ...File) string {
	t.Helper()
	var dockerfile strings.Builder
	fmt.Fprintf(&dockerfile, "FROM %s\nCOPY root/ /\n", base)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&dockerfile, "ENV %s=%q\n", k, env[k])
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatalf("codextest.Derive: %v", err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatalf("codextest.Derive: %v", err)
		}
	}
	add("Dockerfile", 0o644, []byte(dockerfile.String()))
	for _, f := range files {
		if !filepath.IsAbs(f.Path) {
			t.Fatalf("codextest.Derive: %q is not an absolute path", f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		add("root"+filepath.Clean(f.Path), mode, f.Body)
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("codextest.Derive: %v", err)
	}

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ref := derivedRepo + ":" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := rt.Client().ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("codextest: remove %s: %v", ref, err)
		}
	})
	res, err := rt.Client().ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Version: build.BuilderV1, Remove: true, ForceRemove: true,
		Labels: map[string]string{"slipway.test": "codex"},
	})
	if err != nil {
		t.Fatalf("codextest.Derive: build %s: %v", ref, err)
	}
	defer res.Body.Close()
	if err := containers.ReadImportProgress(res.Body); err != nil {
		t.Fatalf("codextest.Derive: build %s: %v", ref, err)
	}
	return ref
}

// Config is /etc/codex/config.toml for a test: the production image's
// (configs/agent/config.toml) with its provider's base_url and the model
// replaced, so a run under test is configured as in production but for
// where the model is. An empty model keeps production's.
func Config(baseURL, model string) ([]byte, error) {
	prod, err := configs.Agent.ReadFile("agent/config.toml")
	if err != nil {
		return nil, err
	}
	for _, r := range []struct{ key, value string }{{"model", model}, {"base_url", baseURL}} {
		line := regexp.MustCompile(`(?m)^` + r.key + ` = ".*"$`)
		if n := len(line.FindAllIndex(prod, -1)); n != 1 {
			return nil, fmt.Errorf("configs/agent/config.toml has %d %s lines, not one", n, r.key)
		}
		if r.value != "" {
			prod = line.ReplaceAllLiteral(prod, fmt.Appendf(nil, "%s = %q", r.key, r.value))
		}
	}
	return prod, nil
}
