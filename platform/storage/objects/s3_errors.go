package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/slipwayhq/slipway/platform/derrors"
)

var errReaderClosed = errors.New("objects: read after close")

// s3Err sorts an SDK error into the derrors categories: a missing object is
// ErrNotFound; anything that says S3 could not be reached or could not answer
// (network, timeouts, 5xx, a missing bucket) is unavailable. Other errors
// (access denied, a bad request) stay as they are. A cancelled context stays
// a cancellation: the caller gave up, S3 did not fail.
func s3Err(err error) error {
	if err == nil {
		return nil
	}
	var (
		respErr *smithyhttp.ResponseError
		apiErr  smithy.APIError
		sendErr *smithyhttp.RequestSendError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case isNoSuchBucket(err):
		return derrors.Unavailable(s3Service, err)
	case isNotFound(err):
		return fmt.Errorf("%w: %w", derrors.ErrNotFound, err)
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= http.StatusInternalServerError,
		errors.As(err, &apiErr) && retryableCode(apiErr.ErrorCode()),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &sendErr),
		errors.As(err, &netErr),
		errors.Is(err, io.ErrUnexpectedEOF):
		return derrors.Unavailable(s3Service, err)
	default:
		return err
	}
}

// retryableCode reports whether an S3 error code means the service is
// failing or overloaded rather than the request being wrong.
func retryableCode(code string) bool {
	switch code {
	case "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout":
		return true
	}
	return false
}

// isNotFound reports whether err says that an object does not exist. A
// missing bucket is not a missing object.
func isNotFound(err error) bool {
	if isNoSuchBucket(err) {
		return false
	}
	var (
		noKey   *types.NoSuchKey
		notF    *types.NotFound
		apiErr  smithy.APIError
		respErr *smithyhttp.ResponseError
	)
	switch {
	case errors.As(err, &noKey), errors.As(err, &notF):
		return true
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound"):
		return true
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound:
		return true
	}
	return false
}

func isNoSuchBucket(err error) bool {
	var (
		noBucket *types.NoSuchBucket
		apiErr   smithy.APIError
	)
	return errors.As(err, &noBucket) || errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket"
}

// isPreconditionFailed reports whether a conditional write found its target
// taken.
func isPreconditionFailed(err error) bool {
	var (
		apiErr  smithy.APIError
		respErr *smithyhttp.ResponseError
	)
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" ||
		errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusPreconditionFailed
}

// isInvalidRange reports whether a ranged GET started past the object's end.
func isInvalidRange(err error) bool {
	var (
		apiErr  smithy.APIError
		respErr *smithyhttp.ResponseError
	)
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" ||
		errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
}
