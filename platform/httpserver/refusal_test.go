package httpserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestRefusalsReachTheClient: a request refused before it was read to its
// end (headers past http.max_header_bytes: 431; a body past
// http.max_body_bytes: 413) still gets its envelope at a client that is
// still sending, never a connection reset. Go's client lost the answer to
// a reset in 43 of 50 oversized uploads before the server lingered on
// close, so each case is sent 20 times.
func TestRefusalsReachTheClient(t *testing.T) {
	a := apptest.Start(t)
	cases := []struct {
		name   string
		header string
		body   string
		status int
		code   string
	}{
		{"headers too large", strings.Repeat("h", 64<<10), strings.Repeat("b", 1<<20), http.StatusRequestHeaderFieldsTooLarge, "headers_too_large"},
		{"body too large", "", strings.Repeat("b", 4<<20), http.StatusRequestEntityTooLarge, "payload_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 20 {
				req, err := http.NewRequest(http.MethodPost, a.URL+"/v1/projects", strings.NewReader(c.body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				if c.header != "" {
					req.Header.Set("X-Big", c.header)
				}
				res, err := http.DefaultClient.Do(req)
				require.NoError(t, err, "attempt %d: the answer was lost", i)
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				require.NoError(t, err, "attempt %d", i)
				require.Equal(t, c.status, res.StatusCode, "attempt %d: %s", i, body)
				require.Contains(t, string(body), `"code":"`+c.code+`"`, "attempt %d", i)
			}
		})
	}
}
