// Package objects stores run logs and patches as named byte streams, in a local
// folder or in an S3 bucket, behind one Store interface.
//
// Two kinds of writes exist. Put stores a whole object atomically (patches):
// a reader sees the old bytes or the new ones, never a mix. AppendAt extends
// an object while a run goes on (logs), at an offset its writer names, so
// that retrying an append whose outcome was unknown can never store its
// bytes twice: Get returns everything appended so far, in order, even while
// appends continue, and GetRange any part of it without reading the rest.
//
// Keys are slash-separated paths of segments made of [A-Za-z0-9._-]; see
// ValidateKey. A key's segments work like folders: DeletePrefix("runs/1")
// removes "runs/1" and every key below "runs/1/", never "runs/10".
//
// Failures are categorised with platform/derrors: a missing object wraps
// derrors.ErrNotFound, an unreachable or broken backend wraps
// derrors.ErrUnavailable (so the API answers 503 and the client may retry), a
// malformed key wraps ErrInvalidKey.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Store holds run logs and patches. Implementations are safe for concurrent use.
type Store interface {
	// Put stores body under key, replacing whatever the key held (whole or
	// appended). It is atomic: concurrent readers see the old object or the
	// new one, never part of it. If reading body fails, the old object stays.
	Put(ctx context.Context, key string, body io.Reader) error

	// Get streams the object under key: for an appended key, the
	// concatenation of the appends stored when the read reaches them. A key
	// that was never written (or only with empty appends) wraps
	// derrors.ErrNotFound. The caller must Close the reader; on S3, ctx must
	// stay alive while reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// GetRange streams n bytes of the object under key from byte offset
	// off, or, with n < 0, everything from off on (what is stored when the
	// read reaches it). A range past the object's end is cut short there: an
	// off at or past the end reads nothing. A missing key wraps
	// derrors.ErrNotFound. The cost is that of the bytes in the range, not
	// of the bytes before off. The caller must Close the reader.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

	// Size returns the length of the object under key; a missing key wraps
	// derrors.ErrNotFound.
	Size(ctx context.Context, key string) (int64, error)

	// AppendAt stores p at byte offset off of the object under key, off
	// being the length the caller has appended so far (0 creates the
	// object). When it returns nil, p is durable. When it fails, p may or
	// may not have been stored, in whole or in part: the caller retries
	// with the same off and p, and the object then holds p once. An off
	// past the object's end (a gap), or stored bytes at off other than p
	// (another writer), wrap derrors.ErrConflict and change nothing. An
	// empty p changes nothing. One writer at a time should append to a key.
	AppendAt(ctx context.Context, key string, off int64, p []byte) error

	// DeletePrefix removes the key named by prefix and every key below it
	// (prefix "runs/1" or "runs/1/" removes "runs/1" and "runs/1/log", not
	// "runs/10"), and returns how many keys it removed. An appended object
	// counts once, however many appends it holds.
	DeletePrefix(ctx context.Context, prefix string) (int, error)

	// Ping reports whether the backend is reachable and usable, for
	// readiness checks.
	Ping(ctx context.Context) error

	// Close releases the store's resources. The store is unusable afterwards.
	Close() error
}

// Limits on keys. MaxKeyLen leaves room under S3's 1024-byte limit for the
// hidden chunk suffix of appended objects; MaxSegmentLen is a common file
// name limit.
const (
	MaxKeyLen     = 512
	MaxSegmentLen = 255
)

// ErrInvalidKey is wrapped by every error about a malformed key or prefix.
var ErrInvalidKey = errors.New("invalid object key")

// Kinds of store accepted by New.
const (
	KindLocal = "local"
	KindS3    = "s3"
)

// New returns the store of the given kind, for wiring from settings: "local"
// keeps objects under localDir, "s3" in the bucket that s3cfg describes. It
// does no I/O.
func New(kind string, localDir string, s3cfg S3Config) (Store, error) {
	switch kind {
	case KindLocal:
		return NewLocal(localDir)
	case KindS3:
		return NewS3(s3cfg)
	default:
		return nil, fmt.Errorf("objects.New: unknown store kind %q (want %q or %q)", kind, KindLocal, KindS3)
	}
}

// ValidateKey reports whether key is a well-formed object key: one or more
// segments separated by "/", each made of [A-Za-z0-9._-], none empty, "." or
// "..", at most MaxSegmentLen bytes per segment and MaxKeyLen in all. The
// error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := validateSegment(seg); err != nil {
			return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
		}
	}
	return nil
}

func validateSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty segment")
	case seg == "." || seg == "..":
		return fmt.Errorf("segment %q", seg)
	case len(seg) > MaxSegmentLen:
		return fmt.Errorf("segment longer than %d bytes", MaxSegmentLen)
	}
	for i := 0; i < len(seg); i++ {
		if !keyByte(seg[i]) {
			return fmt.Errorf("byte %q not allowed", seg[i])
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// cleanPrefix turns a DeletePrefix argument into the key it names: one
// trailing slash is allowed, the rest must be a valid key.
func cleanPrefix(prefix string) (string, error) {
	p := strings.TrimSuffix(prefix, "/")
	if err := ValidateKey(p); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return p, nil
}

// validSegmentName reports whether a stored name could be a key segment, as
// opposed to the backends' own hidden names, which contain a byte keys may not.
func validSegmentName(name string) bool { return validateSegment(name) == nil }

// ctxReader stops a long copy when the context ends, and remembers whether a
// failure came from the caller's reader rather than from the store.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error // the last non-EOF error from r
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// checkAppend validates the arguments every AppendAt takes.
func checkAppend(ctx context.Context, key string, off int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("negative offset %d", off)
	}
	return ctx.Err()
}

// errGap is the conflict of an append that would leave a hole.
func errGap(key string, off, end int64) error {
	return derrors.Conflict("object key "+key, fmt.Errorf("append at %d past the end %d", off, end))
}

// errOverwrite is the conflict of an append whose offset holds other bytes.
func errOverwrite(key string, off int64) error {
	return derrors.Conflict("object key "+key, fmt.Errorf("bytes at %d differ from the append's: another writer", off))
}

// emptyReader is what a range past the end reads.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyReader) Close() error             { return nil }
