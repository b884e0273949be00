package pgtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// RequireOutage runs each store call while the database is away (a Proxy
// taken Down) and requires every one to fail as an outage of "postgres", the
// error the API answers with 503 service_unavailable.
func RequireOutage(t testing.TB, calls map[string]func() error) {
	t.Helper()
	for name, call := range calls {
		err := call()
		require.ErrorIs(t, err, derrors.ErrUnavailable, "%s: %v", name, err)
		var ue *derrors.UnavailableError
		require.ErrorAs(t, err, &ue, name)
		require.Equal(t, "postgres", ue.Service, name)
	}
}
