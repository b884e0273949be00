package egress

import (
	"archive/tar"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ImageRepo is the repository of the proxy's image; its tag is a hash of
// the binary, so each build of slipway has its own image.
const ImageRepo = "slipway-egress"

// BinaryPath is where the binary sits in the proxy's image.
const BinaryPath = "/slipway"

// layoutVersion changes the tag when the image's layout changes.
const layoutVersion = "1"

// checkStatic refuses a binary that needs a dynamic loader: the image has
// nothing but the binary. Build slipway with CGO_ENABLED=0.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the egress proxy runs it in an empty image, so build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// imageRef is the proxy image's name for the binary at path.
func imageRef(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	io.WriteString(h, layoutVersion+"\x00")
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// writeLayer writes the image's only layer: the binary at BinaryPath and
// the empty directories Docker mounts its files on (/etc for resolv.conf
// and hosts). Fixed times and owners keep it reproducible.
func writeLayer(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"etc/", "tmp/", "proc/", "sys/", "dev/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: BinaryPath[1:], Mode: 0o555, Size: fi.Size(), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(tw, f); err != nil {
		return err
	} else if n != fi.Size() {
		return errors.New("the binary changed while it was read")
	}
	return tw.Close()
}
