package objects

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// maxAppendTries bounds how often one Append looks for a free chunk number
// when another writer keeps taking them.
const maxAppendTries = 5

// chunkDigits zero-pads chunk numbers so that S3's lexicographic listing
// order is numeric order.
const chunkDigits = 20

// chunkPrefix is where the chunks of key live.
func chunkPrefix(key string) string { return key + "/" + s3ChunkDir + "/" }

// chunkKey names chunk n of key.
func chunkKey(key string, n uint64) string {
	return fmt.Sprintf("%s%0*d", chunkPrefix(key), chunkDigits, n)
}

// chunkNumber parses the number of a listed chunk object, or reports false
// for any other object under the chunk prefix.
func chunkNumber(prefix, obj string) (uint64, bool) {
	s, ok := strings.CutPrefix(obj, prefix)
	if !ok || len(s) != chunkDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
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

// Append implements Store: p becomes the key's next chunk object.
func (s *S3) Append(ctx context.Context, key string, p []byte) (err error) {
	defer derrors.Wrap(&err, "objects.S3.Append(%q)", key)
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
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

	id := randomHex()
	for try := 1; ; try++ {
		if st.next == 0 {
			next, err := s.prepareAppend(ctx, api, key)
			if err != nil {
				return err
			}
			st.next = next
		}
		ck := chunkKey(key, st.next)
		_, err := api.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(s.cfg.Bucket),
			Key:         aws.String(ck),
			Body:        bytes.NewReader(p),
			IfNoneMatch: aws.String("*"),
			Metadata:    map[string]string{s3AppendIDMeta: id},
		})
		if err == nil {
			st.next++
			return nil
		}
		if !isPreconditionFailed(err) {
			// Unknown whether the chunk was stored: learn the next number
			// from the bucket next time.
			st.next = 0
			return s3Err(err)
		}
		// The number is taken. If by this call's own earlier attempt (the
		// SDK retried after losing the response), the append is done.
		if mine, herr := s.chunkWrittenBy(ctx, api, ck, id); herr == nil && mine {
			st.next++
			return nil
		}
		st.next = 0
		if try == maxAppendTries {
			return derrors.Conflict("append "+key, fmt.Errorf("chunk numbers taken by another writer %d times: %w", try, err))
		}
	}
}

// chunkWrittenBy reports whether the chunk ck carries the append id.
func (s *S3) chunkWrittenBy(ctx context.Context, api *s3.Client, ck, id string) (bool, error) {
	out, err := api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(ck),
	})
	if err != nil {
		return false, s3Err(err)
	}
	return out.Metadata[s3AppendIDMeta] == id, nil
}

// prepareAppend finds the number of key's next chunk: one after the highest
// stored. If a Put left a plain object under key, that object becomes chunk 1
// (copied, then removed) so that appends follow it; any chunks found beside
// it are leftovers that the plain object already superseded (an interrupted
// Put or conversion), and go first.
func (s *S3) prepareAppend(ctx context.Context, api *s3.Client, key string) (uint64, error) {
	prefix := chunkPrefix(key)
	var highest uint64
	pages := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(s.pageSize),
	})
	listed := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, s3Err(err)
		}
		listed += len(page.Contents)
		for _, obj := range page.Contents {
			if n, ok := chunkNumber(prefix, aws.ToString(obj.Key)); ok && n > highest {
				highest = n
			}
		}
	}
	whole, err := s.exists(ctx, api, key)
	if err != nil {
		return 0, err
	}
	if !whole {
		return highest + 1, nil
	}
	if listed > 0 {
		if _, err := s.deleteListed(ctx, api, prefix, nil); err != nil {
			return 0, fmt.Errorf("remove superseded chunks: %w", err)
		}
	}
	bucket := s.cfg.Bucket
	if _, err := api.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:     aws.String(bucket),
		Key:        aws.String(chunkKey(key, 1)),
		CopySource: aws.String(bucket + "/" + key), // keys need no escaping
	}); err != nil {
		return 0, fmt.Errorf("turn whole object into first chunk: %w", s3Err(err))
	}
	if _, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
	}); err != nil {
		return 0, fmt.Errorf("turn whole object into first chunk: %w", s3Err(err))
	}
	return 2, nil
}

// chunkReader streams the chunks of an appended key in order, listing a page
// of chunk names at a time and holding one chunk's response body at a time.
// It reads the chunks that exist when it lists them: chunks appended after it
// listed its last page are not part of this read.
type chunkReader struct {
	ctx context.Context
	s   *S3
	api *s3.Client
	key string

	chunks []string // listed, not yet opened
	after  string   // the last object name listed
	more   bool     // whether the listing may hold more names
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
		if _, ok := chunkNumber(prefix, name); ok {
			r.chunks = append(r.chunks, name)
		}
	}
	r.more = aws.ToBool(out.IsTruncated) && len(out.Contents) > 0
	return nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.err == nil {
		if r.body != nil {
			n, err := r.body.Read(p)
			if err == io.EOF {
				_ = r.body.Close()
				r.body = nil
				err = nil
				if n == 0 {
					continue
				}
			}
			if err != nil {
				r.err = fmt.Errorf("objects.S3.Get(%q): read chunk: %w", r.key, s3Err(err))
			}
			return n, r.err
		}
		if len(r.chunks) == 0 {
			if !r.more {
				r.err = io.EOF
				break
			}
			if err := r.list(); err != nil {
				r.err = fmt.Errorf("objects.S3.Get(%q): list chunks: %w", r.key, err)
			}
			continue
		}
		name := r.chunks[0]
		r.chunks = r.chunks[1:]
		out, err := r.api.GetObject(r.ctx, &s3.GetObjectInput{
			Bucket: aws.String(r.s.cfg.Bucket),
			Key:    aws.String(name),
		})
		switch {
		case err == nil:
			r.body = out.Body
		case isNotFound(err):
			// Deleted, or replaced by a Put, while we read.
			r.err = fmt.Errorf("objects.S3.Get(%q): chunk %s disappeared while reading: %w", r.key, name, derrors.ErrNotFound)
		default:
			r.err = fmt.Errorf("objects.S3.Get(%q): get chunk: %w", r.key, s3Err(err))
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
