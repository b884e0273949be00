package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// chunkDigits zero-pads chunk offsets so that S3's lexicographic listing
// order is numeric order.
const chunkDigits = 20

// chunkPrefix is where the chunks of key live.
func chunkPrefix(key string) string { return key + "/" + s3ChunkDir + "/" }

// chunkKey names the chunk of key that ends at byte end.
func chunkKey(key string, end int64) string {
	return fmt.Sprintf("%s%0*d", chunkPrefix(key), chunkDigits, end)
}

// chunkEnd parses the end of a listed chunk object, or reports false for
// any other object under the chunk prefix.
func chunkEnd(prefix, obj string) (int64, bool) {
	s, ok := strings.CutPrefix(obj, prefix)
	if !ok || len(s) != chunkDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// chunkOwner returns the key that a stored object belongs to: the appended key
// for a chunk, the object's own name otherwise.
func chunkOwner(obj string) string {
	if i := strings.Index(obj, "/"+s3ChunkDir+"/"); i >= 0 {
		return obj[:i]
	}
	return obj
}

func sum(p []byte) string {
	h := sha256.Sum256(p)
	return hex.EncodeToString(h[:])
}

// AppendAt implements Store: p becomes the chunk [off, off+len(p)), then a
// list of the chunks around it checks that it follows the object's end
// and overlaps nothing.
func (s *S3) AppendAt(ctx context.Context, key string, off int64, p []byte) (err error) {
	defer derrors.Wrap(&err, "objects.S3.AppendAt(%q, %d)", key, off)
	if err := checkAppend(ctx, key, off); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	api, err := s.api(ctx)
	if err != nil {
		return err
	}
	st := s.lockKey(key)
	defer s.unlockKey(key, st)
	if !st.prepared {
		if err := s.prepareAppend(ctx, api, key); err != nil {
			return err
		}
		st.prepared = true
	}
	end := off + int64(len(p))
	ck := chunkKey(key, end)
	_, err = api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.cfg.Bucket),
		Key:         aws.String(ck),
		Body:        bytes.NewReader(p),
		IfNoneMatch: aws.String("*"),
		Metadata:    map[string]string{s3SumMeta: sum(p)},
	})
	fresh := err == nil
	switch {
	case fresh:
	case isPreconditionFailed(err):
		// Taken: by an earlier attempt of this append (a retry, by the
		// caller or by the SDK after a lost answer), or by another writer.
		if err := s.sameChunk(ctx, api, key, ck, off, p); err != nil {
			return err
		}
	default:
		return s3Err(err)
	}
	if err := s.checkPlace(ctx, api, key, off, end); err != nil {
		if fresh {
			// Undo this append: it must change nothing.
			if _, derr := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(ck)}); derr != nil {
				return fmt.Errorf("%w (and removing the misplaced chunk: %v)", err, s3Err(derr))
			}
		}
		return err
	}
	return nil
}

// checkPlace checks that the chunk [off, end) follows a chunk that ends at
// off (unless off is 0) and that no chunk ends inside it: a writer whose
// idea of the end is stale would otherwise leave a gap or an overlap.
func (s *S3) checkPlace(ctx context.Context, api *s3.Client, key string, off, end int64) error {
	prefix := chunkPrefix(key)
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(3),
	}
	if off > 0 {
		in.StartAfter = aws.String(chunkKey(key, off-1))
	}
	out, err := api.ListObjectsV2(ctx, in)
	if err != nil {
		return s3Err(err)
	}
	var ends []int64
	for _, obj := range out.Contents {
		if e, ok := chunkEnd(prefix, aws.ToString(obj.Key)); ok {
			ends = append(ends, e)
		}
	}
	if off > 0 {
		if len(ends) == 0 || ends[0] != off {
			return errGap(key, off, -1)
		}
		ends = ends[1:]
	}
	if len(ends) == 0 || ends[0] != end {
		return errOverwrite(key, off)
	}
	return nil
}

// sameChunk succeeds when the chunk ck holds exactly p; other bytes there
// are a conflict.
func (s *S3) sameChunk(ctx context.Context, api *s3.Client, key, ck string, off int64, p []byte) error {
	out, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(ck)})
	switch {
	case err == nil:
	case isNotFound(err):
		return errOverwrite(key, off) // gone again: Put or DeletePrefix meanwhile
	default:
		return s3Err(err)
	}
	if aws.ToInt64(out.ContentLength) != int64(len(p)) {
		return errOverwrite(key, off)
	}
	if stored, ok := out.Metadata[s3SumMeta]; ok {
		if stored != sum(p) {
			return errOverwrite(key, off)
		}
		return nil
	}
	// A chunk without a sum (a plain object turned into the first chunk):
	// compare the bytes.
	got, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(ck)})
	if err != nil {
		return s3Err(err)
	}
	defer got.Body.Close()
	b, err := io.ReadAll(io.LimitReader(got.Body, int64(len(p))+1))
	if err != nil {
		return s3Err(err)
	}
	if !bytes.Equal(b, p) {
		return errOverwrite(key, off)
	}
	return nil
}

// prepareAppend turns a plain object that a Put left under key into the
// first chunk (copied, then removed) so that appends follow it; any chunks
// found beside it are leftovers that the plain object already superseded (an
// interrupted Put or conversion), and go first.
func (s *S3) prepareAppend(ctx context.Context, api *s3.Client, key string) error {
	bucket := s.cfg.Bucket
	head, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	switch {
	case err == nil:
	case isNotFound(err):
		return nil
	default:
		return s3Err(err)
	}
	if _, err := s.deleteListed(ctx, api, chunkPrefix(key), nil); err != nil {
		return fmt.Errorf("remove superseded chunks: %w", err)
	}
	if size := aws.ToInt64(head.ContentLength); size > 0 {
		if _, err := api.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String(bucket),
			Key:        aws.String(chunkKey(key, size)),
			CopySource: aws.String(bucket + "/" + key), // keys need no escaping
		}); err != nil {
			return fmt.Errorf("turn whole object into first chunk: %w", s3Err(err))
		}
	}
	if _, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("turn whole object into first chunk: %w", s3Err(err))
	}
	return nil
}

// chunksEnd lists every chunk of key and returns where the last one ends,
// and whether there is any.
func (s *S3) chunksEnd(ctx context.Context, api *s3.Client, key string) (end int64, found bool, err error) {
	prefix := chunkPrefix(key)
	pages := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(s.pageSize),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, false, s3Err(err)
		}
		for _, obj := range page.Contents {
			if e, ok := chunkEnd(prefix, aws.ToString(obj.Key)); ok {
				end, found = max(end, e), true
			}
		}
	}
	return end, found, nil
}

// anyChunk reports whether key has a chunk, with one short list request.
func (s *S3) anyChunk(ctx context.Context, api *s3.Client, key string) (string, bool, error) {
	prefix := chunkPrefix(key)
	out, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return "", false, s3Err(err)
	}
	for _, obj := range out.Contents {
		if _, ok := chunkEnd(prefix, aws.ToString(obj.Key)); ok {
			return aws.ToString(obj.Key), true, nil
		}
	}
	return "", false, nil
}

// chunkRef is a listed chunk.
type chunkRef struct {
	name       string
	start, end int64
}

// chunkReader streams an appended key from byte pos on, listing a page of
// chunk names at a time and holding one chunk's response body at a time; it
// opens only the chunks from the one holding pos, the first one ranged, and
// checks that each starts where the one before ended. It reads the chunks
// that exist when it lists them: chunks appended after it listed its last
// page are not part of this read.
type chunkReader struct {
	ctx context.Context
	s   *S3
	api *s3.Client
	key string

	pos   int64 // the offset of the next byte to return
	limit int64 // the offset to stop at; < 0: the end

	chunks []chunkRef // listed, not yet opened
	opened bool       // whether a chunk was opened: the next must start at pos
	after  string     // the last object name listed
	more   bool       // whether the listing may hold more names
	body   io.ReadCloser
	err    error // sticky: io.EOF at the end
}

// list fetches the next page of chunk names.
func (r *chunkReader) list() error {
	prefix := chunkPrefix(r.key)
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(r.s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(r.s.pageSize),
	}
	if r.after != "" {
		in.StartAfter = aws.String(r.after)
	}
	out, err := r.api.ListObjectsV2(r.ctx, in)
	if err != nil {
		return s3Err(err)
	}
	for _, obj := range out.Contents {
		name := aws.ToString(obj.Key)
		r.after = name
		if end, ok := chunkEnd(prefix, name); ok {
			r.chunks = append(r.chunks, chunkRef{name: name, start: end - aws.ToInt64(obj.Size), end: end})
		}
	}
	r.more = aws.ToBool(out.IsTruncated) && len(out.Contents) > 0
	return nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.err == nil {
		if r.limit >= 0 && r.pos >= r.limit {
			r.err = io.EOF
			break
		}
		if r.body != nil {
			if r.limit >= 0 {
				p = p[:min(int64(len(p)), r.limit-r.pos)]
			}
			n, err := r.body.Read(p)
			r.pos += int64(n)
			if err == io.EOF {
				_ = r.body.Close()
				r.body = nil
				err = nil
				if n == 0 {
					continue
				}
			}
			if err != nil {
				r.err = fmt.Errorf("objects.S3.GetRange(%q): read chunk: %w", r.key, s3Err(err))
			}
			return n, r.err
		}
		if len(r.chunks) == 0 {
			if !r.more {
				r.err = io.EOF
				break
			}
			if err := r.list(); err != nil {
				r.err = fmt.Errorf("objects.S3.GetRange(%q): list chunks: %w", r.key, err)
			}
			continue
		}
		c := r.chunks[0]
		r.chunks = r.chunks[1:]
		switch {
		case c.end <= r.pos:
			continue // before the range
		case c.start > r.pos || r.opened && c.start != r.pos:
			r.err = fmt.Errorf("objects.S3.GetRange(%q): chunk %s (bytes %d to %d) does not continue at %d", r.key, c.name, c.start, c.end, r.pos)
			continue
		}
		r.opened = true
		in := &s3.GetObjectInput{Bucket: aws.String(r.s.cfg.Bucket), Key: aws.String(c.name)}
		if skip := r.pos - c.start; skip > 0 {
			in.Range = aws.String(byteRange(skip, -1))
		}
		out, err := r.api.GetObject(r.ctx, in)
		switch {
		case err == nil:
			r.body = out.Body
		case isNotFound(err):
			// Deleted, or replaced by a Put, while we read.
			r.err = fmt.Errorf("objects.S3.GetRange(%q): chunk %s disappeared while reading: %w", r.key, c.name, derrors.ErrNotFound)
		default:
			r.err = fmt.Errorf("objects.S3.GetRange(%q): get chunk: %w", r.key, s3Err(err))
		}
	}
	return 0, r.err
}

func (r *chunkReader) Close() error {
	if r.body != nil {
		_ = r.body.Close()
		r.body = nil
	}
	if r.err == nil {
		r.err = errReaderClosed
	}
	return nil
}
