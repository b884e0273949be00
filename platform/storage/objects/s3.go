package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/slipwayhq/slipway/platform/awsclient"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// Defaults of S3Config, chosen so that an unreachable endpoint fails within a
// few seconds: a refused connection costs MaxAttempts quick tries, a silent
// one MaxAttempts × ConnectTimeout plus backoff (about 8 s).
const (
	DefaultS3ConnectTimeout  = 2 * time.Second
	DefaultS3ResponseTimeout = 15 * time.Second
	DefaultS3MaxAttempts     = 3
	DefaultS3MaxBackoff      = time.Second
)

// s3Service names S3 in derrors.Unavailable.
const s3Service = "s3"

// s3ChunkDir is the hidden folder under an appended key that holds its
// chunks, each named by the offset just past its last byte (its end):
// "runs/1/log" is stored as "runs/1/log/!chunks/00000000000000065536",
// "…00000000000000131072", and so on; a chunk's start is its end minus its
// size. Keys may not contain '!', so no key can clash with a chunk, and the
// chunks of a key lie under the key's own prefix, so DeletePrefix finds them
// with the key's descendants.
const s3ChunkDir = "!chunks"

// s3SumMeta is object metadata on each chunk: the sha256 of its bytes, so
// that a retried append that finds its chunk written can tell its own
// earlier attempt from another writer's bytes.
const s3SumMeta = "slipway-sha256"

// S3Config says how to reach the bucket. Only Bucket is required.
type S3Config struct {
	// Bucket holds the objects. It must exist.
	Bucket string
	// Region of the bucket. Empty means the default chain (AWS_REGION, shared
	// config), or "us-east-1" when Endpoint is set.
	Region string
	// Endpoint is the URL of an S3-compatible server (MinIO, a test server).
	// When set, requests use path-style addressing (host/bucket/key) and send
	// checksums only where S3 requires them, which such servers accept.
	Endpoint string
	// AccessKeyID and SecretAccessKey, with the optional SessionToken, are
	// static credentials. Empty means the default chain (environment, shared
	// files, instance or task role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// ConnectTimeout bounds the TCP connect and the TLS handshake of one
	// attempt (DefaultS3ConnectTimeout when zero).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers after a request
	// was sent (DefaultS3ResponseTimeout when zero). Bodies stream without limit.
	ResponseTimeout time.Duration
	// MaxAttempts is how many times one request is tried (DefaultS3MaxAttempts
	// when zero; 1 disables retries).
	MaxAttempts int
	// MaxBackoff caps the wait between attempts (DefaultS3MaxBackoff when zero).
	MaxBackoff time.Duration
}

// Validate reports the first field that is wrong.
func (c S3Config) Validate() error {
	switch {
	case c.Bucket == "":
		return errors.New("s3 config: bucket is required")
	case c.AccessKeyID != "" && c.SecretAccessKey == "":
		return errors.New("s3 config: access key id given without secret access key")
	case c.AccessKeyID == "" && (c.SecretAccessKey != "" || c.SessionToken != ""):
		return errors.New("s3 config: secret access key or session token given without access key id")
	case c.ConnectTimeout < 0, c.ResponseTimeout < 0, c.MaxBackoff < 0:
		return errors.New("s3 config: timeouts must not be negative")
	case c.MaxAttempts < 0:
		return errors.New("s3 config: max attempts must not be negative")
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return fmt.Errorf("s3 config: endpoint %q must start with http:// or https://", c.Endpoint)
	}
	return nil
}

func (c S3Config) withDefaults() S3Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultS3ConnectTimeout
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = DefaultS3ResponseTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultS3MaxAttempts
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultS3MaxBackoff
	}
	if c.Region == "" && c.Endpoint != "" {
		c.Region = "us-east-1"
	}
	return c
}

// S3 is a Store in an S3 bucket. S3 has no append, so an appended key is a
// series of chunk objects under a hidden prefix (see s3ChunkDir), one per
// AppendAt, named by the offset where they end, which Get streams one after
// the other. A Put stores one plain object; when a key has both (a Put after
// appends, until the chunks are removed), the plain object wins. The next
// AppendAt after a Put turns the plain object into the first chunk.
//
// Naming chunks by offset is what makes a retried AppendAt harmless: it
// writes the same chunk name again, with If-None-Match: *, and finding the
// chunk there with its own bytes (by the sha256 in its metadata) means the
// earlier attempt landed. Naming them by their end is what makes a ranged
// read cheap: listing the names after the read's offset starts at the chunk
// that holds it. Each AppendAt then lists the few chunks around it to check
// that it neither leaves a gap nor overlaps another writer's chunk.
//
// Each AppendAt is two requests and one object: batch small writes (a log
// line each) before appending.
type S3 struct {
	cfg      S3Config
	pageSize int32 // objects per list request
	spoolMem int64 // bytes of a non-seekable Put body kept in memory before spilling to a file

	initMu    sync.Mutex
	client    *s3.Client
	transport atomic.Pointer[http.Transport] // set when the client first sends

	mu      sync.Mutex
	keys    map[string]*s3KeyState
	closed  bool
	maxIdle int // idle key states kept before they are dropped
}

var _ Store = (*S3)(nil)

// s3KeyState serialises the writes to one key in this process.
type s3KeyState struct {
	mu       sync.Mutex
	prepared bool // whether a plain object under the key was looked for
	refs     int  // callers holding or waiting for mu; guarded by S3.mu
}

// NewS3 returns a Store in the bucket cfg names. It does no I/O: the client
// is built and the network first used by the first call.
func NewS3(cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("objects.NewS3: %w", err)
	}
	return &S3{
		cfg:      cfg.withDefaults(),
		pageSize: 1000,
		spoolMem: 8 << 20,
		keys:     make(map[string]*s3KeyState),
		maxIdle:  4096,
	}, nil
}

// api returns the client, building it on first use.
func (s *S3) api(ctx context.Context) (*s3.Client, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errors.New("store is closed")
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c := s.cfg
	var load []func(*config.LoadOptions) error
	if c.AccessKeyID != "" {
		load = append(load, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	if c.Endpoint != "" {
		load = append(load,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := awsclient.Load(ctx, awsclient.Options{
		Region:              c.Region,
		ConnectTimeout:      c.ConnectTimeout,
		ResponseTimeout:     c.ResponseTimeout,
		MaxIdleConnsPerHost: 32,
		MaxAttempts:         c.MaxAttempts,
		MaxBackoff:          c.MaxBackoff,
		Transport:           s.transport.Store, // the transport in use, for Close
		Load:                load,
	})
	if err != nil {
		return nil, err
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	})
	return s.client, nil
}

// Put implements Store. A body that cannot seek is read first, into memory up
// to 8 MiB and into a temporary file beyond, because S3 needs the length
// before the upload starts.
func (s *S3) Put(ctx context.Context, key string, body io.Reader) (err error) {
	defer derrors.Wrap(&err, "objects.S3.Put(%q)", key)
	if err := ValidateKey(key); err != nil {
		return err
	}
	api, err := s.api(ctx)
	if err != nil {
		return err
	}
	rs, done, err := s.seekable(ctx, body)
	if err != nil {
		return err
	}
	defer done()

	st := s.lockKey(key)
	defer s.unlockKey(key, st)
	// Whatever happens below, the next AppendAt must look again at what the
	// key holds.
	st.prepared = false
	if _, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
		Body:   rs,
	}); err != nil {
		return s3Err(err)
	}
	// The plain object now hides any chunks of earlier appends; remove them.
	if _, err := s.deleteListed(ctx, api, chunkPrefix(key), nil); err != nil {
		return fmt.Errorf("remove chunks of earlier appends: %w", err)
	}
	return nil
}

// seekable returns body as an io.ReadSeeker, reading it first if it cannot
// seek. done releases what that took.
func (s *S3) seekable(ctx context.Context, body io.Reader) (_ io.ReadSeeker, done func(), err error) {
	if rs, ok := body.(io.ReadSeeker); ok {
		if _, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return rs, func() {}, nil
		}
	}
	src := &ctxReader{ctx: ctx, r: body}
	buf, err := io.ReadAll(io.LimitReader(src, s.spoolMem+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(buf)) <= s.spoolMem {
		return bytes.NewReader(buf), func() {}, nil
	}
	f, err := os.CreateTemp("", "slipway-objects-put-*")
	if err != nil {
		return nil, nil, derrors.Unavailable(localService, fmt.Errorf("spool body: %w", err))
	}
	done = func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	if _, err := f.Write(buf); err != nil {
		done()
		return nil, nil, derrors.Unavailable(localService, fmt.Errorf("spool body: %w", err))
	}
	if _, err := io.Copy(f, src); err != nil {
		done()
		if src.err != nil {
			return nil, nil, fmt.Errorf("read body: %w", src.err)
		}
		return nil, nil, derrors.Unavailable(localService, fmt.Errorf("spool body: %w", err))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		done()
		return nil, nil, derrors.Unavailable(localService, fmt.Errorf("spool body: %w", err))
	}
	return f, done, nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (_ io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "objects.S3.Get(%q)", key)
	return s.getRange(ctx, key, 0, -1)
}

// GetRange implements Store: a ranged GET of a plain object, or, for an
// appended key, one list request from the chunk holding off on, then the
// chunks, the first one ranged.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) (_ io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "objects.S3.GetRange(%q, %d, %d)", key, off, n)
	if off < 0 {
		return nil, fmt.Errorf("negative offset %d", off)
	}
	return s.getRange(ctx, key, off, n)
}

func (s *S3) getRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	api, err := s.api(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		// Nothing to read, but the key must exist.
		if _, err := s.Size(ctx, key); err != nil {
			return nil, err
		}
		return emptyReader{}, nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}
	if r := byteRange(off, n); r != "" {
		in.Range = aws.String(r)
	}
	out, err := api.GetObject(ctx, in)
	switch {
	case err == nil:
		return &s3Body{body: out.Body}, nil
	case isInvalidRange(err):
		return emptyReader{}, nil // a plain object, off past its end
	case !isNotFound(err):
		return nil, s3Err(err)
	}
	r := &chunkReader{ctx: ctx, s: s, api: api, key: key, more: true, pos: off, limit: -1}
	if n > 0 {
		r.limit = off + n
	}
	if off > 0 {
		// Chunks that end at or after off: the first one holds off, or
		// ends there.
		r.after = chunkKey(key, off-1)
	}
	if err := r.list(); err != nil {
		return nil, err
	}
	if len(r.chunks) == 0 {
		// Past the end, or no such key.
		if _, found, err := s.anyChunk(ctx, api, key); err != nil || !found {
			if err == nil {
				err = derrors.ErrNotFound
			}
			return nil, err
		}
		return emptyReader{}, nil
	}
	return r, nil
}

// byteRange is the Range header of n bytes from off (n < 0: to the end);
// empty for the whole object.
func byteRange(off, n int64) string {
	switch {
	case n < 0 && off == 0:
		return ""
	case n < 0:
		return fmt.Sprintf("bytes=%d-", off)
	}
	return fmt.Sprintf("bytes=%d-%d", off, off+n-1)
}

// Size implements Store: a HEAD of the plain object, or the end of the
// last chunk, which takes listing every chunk.
func (s *S3) Size(ctx context.Context, key string) (_ int64, err error) {
	defer derrors.Wrap(&err, "objects.S3.Size(%q)", key)
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	api, err := s.api(ctx)
	if err != nil {
		return 0, err
	}
	out, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	switch {
	case err == nil:
		return aws.ToInt64(out.ContentLength), nil
	case !isNotFound(err):
		return 0, s3Err(err)
	}
	end, found, err := s.chunksEnd(ctx, api, key)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, derrors.ErrNotFound
	}
	return end, nil
}

// DeletePrefix implements Store: the key itself (a HEAD tells whether it
// exists), then everything listed under prefix + "/", in DeleteObjects
// batches of up to 1000.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) (n int, err error) {
	defer derrors.Wrap(&err, "objects.S3.DeletePrefix(%q)", prefix)
	p, err := cleanPrefix(prefix)
	if err != nil {
		return 0, err
	}
	api, err := s.api(ctx)
	if err != nil {
		return 0, err
	}
	owners := make(map[string]struct{})
	// List first: on a missing bucket it fails clearly, where a HEAD only
	// says 404.
	if _, err := s.deleteListed(ctx, api, p+"/", owners); err != nil {
		return len(owners), err
	}
	exists, err := s.exists(ctx, api, p)
	if err != nil {
		return len(owners), err
	}
	if exists {
		if err := s.deleteBatch(ctx, api, []types.ObjectIdentifier{{Key: aws.String(p)}}); err != nil {
			return len(owners), err
		}
		owners[p] = struct{}{}
	}
	s.dropIdleUnder(p)
	return len(owners), nil
}

// deleteListed deletes every object whose name starts with prefix and, when
// owners is not nil, records the key each belonged to (a chunk belongs to its
// appended key). It returns how many objects it deleted.
func (s *S3) deleteListed(ctx context.Context, api *s3.Client, prefix string, owners map[string]struct{}) (int, error) {
	deleted := 0
	batch := make([]types.ObjectIdentifier, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.deleteBatch(ctx, api, batch); err != nil {
			return err
		}
		deleted += len(batch)
		batch = batch[:0]
		return nil
	}
	pages := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(s.pageSize),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return deleted, s3Err(err)
		}
		for _, obj := range page.Contents {
			k := aws.ToString(obj.Key)
			batch = append(batch, types.ObjectIdentifier{Key: aws.String(k)})
			if owners != nil {
				owners[chunkOwner(k)] = struct{}{}
			}
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return deleted, err
				}
			}
		}
	}
	return deleted, flush()
}

func (s *S3) deleteBatch(ctx context.Context, api *s3.Client, objs []types.ObjectIdentifier) error {
	out, err := api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(s.cfg.Bucket),
		Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return s3Err(err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		err := fmt.Errorf("delete %q: %s: %s (%d of %d objects failed)",
			aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors), len(objs))
		if retryableCode(aws.ToString(e.Code)) {
			return derrors.Unavailable(s3Service, err)
		}
		return err
	}
	return nil
}

// exists reports whether a plain object is stored under key.
func (s *S3) exists(ctx context.Context, api *s3.Client, key string) (bool, error) {
	_, err := api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	default:
		return false, s3Err(err)
	}
}

// Ping implements Store with a HEAD on the bucket. A missing bucket is
// reported as unavailable: the store cannot work until it exists.
func (s *S3) Ping(ctx context.Context) (err error) {
	defer derrors.Wrap(&err, "objects.S3.Ping")
	api, err := s.api(ctx)
	if err != nil {
		return err
	}
	_, err = api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil && isNotFound(err) {
		return derrors.Unavailable(s3Service, fmt.Errorf("bucket %q does not exist: %w", s.cfg.Bucket, err))
	}
	return s3Err(err)
}

// Close implements Store: it drops idle connections.
func (s *S3) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if tr := s.transport.Load(); tr != nil {
		tr.CloseIdleConnections()
	}
	return nil
}

// lockKey returns the key's state with its mutex held.
func (s *S3) lockKey(key string) *s3KeyState {
	s.mu.Lock()
	st := s.keys[key]
	if st == nil {
		st = &s3KeyState{}
		s.keys[key] = st
	}
	st.refs++
	s.mu.Unlock()
	st.mu.Lock()
	return st
}

// unlockKey releases what lockKey took, and forgets idle keys once there are
// many: forgetting only costs a list request at the key's next Append.
func (s *S3) unlockKey(key string, st *s3KeyState) {
	st.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.refs--
	if len(s.keys) <= s.maxIdle {
		return
	}
	for k, v := range s.keys {
		if v.refs == 0 {
			delete(s.keys, k)
		}
	}
}

// dropIdleUnder forgets the idle states of deleted keys.
func (s *S3) dropIdleUnder(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.keys {
		if v.refs == 0 && (k == p || strings.HasPrefix(k, p+"/")) {
			delete(s.keys, k)
		}
	}
}

// s3Body classifies errors that happen while a response body streams.
type s3Body struct {
	body io.ReadCloser
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("objects: read s3 object: %w", s3Err(err))
	}
	return n, err
}

func (b *s3Body) Close() error { return b.body.Close() }
