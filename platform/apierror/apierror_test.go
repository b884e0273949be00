package apierror

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// TestStatusOfEveryCode pins the status each stable code answers with: api.md's table.
func TestStatusOfEveryCode(t *testing.T) {
	for code, status := range map[derrors.Code]int{
		derrors.CodeInvalidJSON: 400, derrors.CodeBadRequest: 400, derrors.CodeInvalidToken: 401,
		derrors.CodeInvalidCredentials: 401, derrors.CodeForbidden: 403, derrors.CodeSignupDisabled: 403,
		derrors.CodeNotFound: 404, derrors.CodeMethodNotAllowed: 405, derrors.CodeTimeout: 408,
		derrors.CodeConflict: 409, derrors.CodeEmailTaken: 409, derrors.CodeRunFinished: 409,
		derrors.CodePayloadTooLarge: 413, derrors.CodeUnsupportedMediaType: 415, derrors.CodeValidation: 422,
		derrors.CodeRateLimited: 429, derrors.CodeQuotaExceeded: 429, derrors.CodeHeadersTooLarge: 431,
		derrors.CodeInternal: 500, derrors.CodeUnavailable: 503, derrors.CodeNotReady: 503,
		derrors.CodeRangeNotSatisfiable: 416,
	} {
		require.Equal(t, status, Status(code.Kind()), code.String())
	}
}

func TestFromMapsSharedCategories(t *testing.T) {
	for err, code := range map[error]derrors.Code{
		derrors.NotFound("project", "prj_1"):                derrors.CodeNotFound,
		derrors.ErrNotFound:                                 derrors.CodeNotFound,
		derrors.Conflict("users.email", nil):                derrors.CodeConflict,
		derrors.Unavailable("postgres", errors.New("down")): derrors.CodeUnavailable,
		errors.New("a bug"):                                 derrors.CodeInternal,
	} {
		require.Equal(t, code, From(err).Code, "%v", err)
	}
	e := From(derrors.Unavailable("s3", errors.New("dial tcp: refused")))
	require.Equal(t, "s3", e.Details["service"])
	require.NotContains(t, e.Message, "refused", "the cause is for the log only")
}

func TestEnvelopeAndHeaders(t *testing.T) {
	e := derrors.TooMany(derrors.CodeRateLimited, "slow down", 1500*time.Millisecond)
	body, err := json.Marshal(Envelope(e))
	require.NoError(t, err)
	require.JSONEq(t, `{"schema_version":1,"error":{"code":"rate_limited","message":"slow down",
		"retryable":true,"details":{"retry_after_seconds":2}}}`, string(body))
	require.Equal(t, map[string]string{"Retry-After": "2"}, Headers(e))

	bad := derrors.New(derrors.CodeInvalidToken, "no")
	require.Equal(t, `Bearer realm="slipway"`, Headers(bad)["WWW-Authenticate"])
	require.Equal(t, http.StatusUnauthorized, Status(bad.Code.Kind()))

	allow := derrors.New(derrors.CodeMethodNotAllowed, "no").WithDetail("allow", []string{"GET", "POST"})
	require.Equal(t, "GET, POST", Headers(allow)["Allow"])

	unsatisfiable := derrors.RangeNotSatisfiable("log", 1234)
	require.Equal(t, map[string]string{"Content-Range": "bytes */1234"}, Headers(unsatisfiable))
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, Status(unsatisfiable.Code.Kind()))
	require.False(t, unsatisfiable.Code.Kind().Retryable())

	body, err = json.Marshal(Envelope(derrors.New(derrors.CodeNotFound, "gone")))
	require.NoError(t, err)
	require.JSONEq(t, `{"schema_version":1,"error":{"code":"not_found","message":"gone","retryable":false,"details":{}}}`, string(body))
}
