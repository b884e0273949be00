package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// DefaultCACerts is Debian's CA bundle (package ca-certificates).
const DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

// The image's user: 65532, as distroless' "nonroot", neither root nor
// nobody (65534), which agent containers run as.
const (
	UID = 65532
	GID = 65532
)

// Paths inside the image.
const (
	binaryPath = "usr/local/bin/slipway"
	certsPath  = "etc/ssl/certs/ca-certificates.crt"
	dataDir    = "data"
)

// dockerfile adds the root filesystem and says how the image runs. The API
// listens on every interface of the container (publish it where it should
// be reached); records, objects and workspaces go to /data.
const dockerfile = `FROM scratch
ADD rootfs.tar /
USER 65532:65532
ENV SLIPWAY_HTTP_ADDR=0.0.0.0:8080 \
    SLIPWAY_DATA_DIR=/data \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/slipway"]
CMD ["serve"]
`

// Options say what to build.
type Options struct {
	// Tag names the image, e.g. "slipway:latest".
	Tag string
	// DockerHost is the engine's endpoint; empty: $DOCKER_HOST, else the
	// local socket.
	DockerHost string
	// CACerts is the CA bundle to copy; empty: DefaultCACerts.
	CACerts string
	// ModuleDir is where `go build` runs; empty: the current directory
	// (the module's root, as the task runs it).
	ModuleDir string
	// Log receives the compiler's and the builder's output; nil discards it.
	Log io.Writer
}

// Image is what Build made.
type Image struct {
	ID         string
	Size       int64 // as the engine reports it
	BinarySize int64
}

// Build compiles the static binary and builds the image with the engine.
func Build(ctx context.Context, o Options) (Image, error) {
	if o.Tag == "" {
		return Image{}, errors.New("no tag")
	}
	if o.CACerts == "" {
		o.CACerts = DefaultCACerts
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "slipway-image-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "slipway")
	if err := compile(ctx, o, bin); err != nil {
		return Image{}, err
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return Image{}, fmt.Errorf("CA certificates (apt-get install ca-certificates): %w", err)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return Image{}, err
	}
	buildCtx, err := buildContext(binary, certs)
	if err != nil {
		return Image{}, err
	}

	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if o.DockerHost != "" {
		opts = append(opts, client.WithHost(o.DockerHost))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return Image{}, err
	}
	defer cli.Close()
	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        []string{o.Tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		// The classic builder: it needs no BuildKit session nor any image
		// from a registry, and FROM scratch pulls nothing.
		Version: build.BuilderV1,
	})
	if err != nil {
		return Image{}, fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, o.Log, 0, false, nil); err != nil {
		return Image{}, fmt.Errorf("docker build: %w", err)
	}
	info, err := cli.ImageInspect(ctx, o.Tag)
	if err != nil {
		return Image{}, fmt.Errorf("inspect %s: %w", o.Tag, err)
	}
	return Image{ID: info.ID, Size: info.Size, BinarySize: int64(len(binary))}, nil
}

// compile builds ./app/cmd/slipway without cgo, so the binary needs no libc
// (there is none in the image), and checks it is static.
func compile(ctx context.Context, o Options, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./app/cmd/slipway")
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	f, err := elf.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("the binary is dynamically linked; it cannot run FROM scratch")
		}
	}
	return nil
}

// buildContext is the tar the engine builds from: the Dockerfile and the
// root filesystem as a tar of its own, whose headers carry the ownership
// and modes ADD keeps.
func buildContext(binary, certs []byte) ([]byte, error) {
	rootfs, err := rootFS(binary, certs)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []entry{
		{name: "Dockerfile", mode: 0o644, body: []byte(dockerfile)},
		{name: "rootfs.tar", mode: 0o644, body: rootfs},
	} {
		if err := f.write(tw); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rootFS is the image's whole filesystem.
func rootFS(binary, certs []byte) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nslipway:x:%d:%d:slipway:/data:/sbin/nologin\n", UID, GID)
	group := fmt.Sprintf("root:x:0:\nslipway:x:%d:\n", GID)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []entry{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/ssl/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/", dir: true, mode: 0o755},
		{name: certsPath, mode: 0o644, body: certs},
		{name: "usr/", dir: true, mode: 0o755},
		{name: "usr/local/", dir: true, mode: 0o755},
		{name: "usr/local/bin/", dir: true, mode: 0o755},
		{name: binaryPath, mode: 0o755, body: binary},
		// Go's os.TempDir, for any library that wants one.
		{name: "tmp/", dir: true, mode: 0o1777},
		// The data dir belongs to the image's user, so a volume mounted
		// there starts out writable by it.
		{name: dataDir + "/", dir: true, mode: 0o700, uid: UID, gid: GID},
	} {
		if err := e.write(tw); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// entry is one file or directory of a tar.
type entry struct {
	name     string
	dir      bool
	mode     int64
	uid, gid int
	body     []byte
}

func (e entry) write(tw *tar.Writer) error {
	// One fixed time for every entry, so the same inputs make the same layer.
	h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if e.dir {
		h.Typeflag = tar.TypeDir
	} else {
		h.Typeflag = tar.TypeReg
		h.Size = int64(len(e.body))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !e.dir {
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	return nil
}
