package users_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/settings"
)

// behindProxy starts a reverse proxy on 127.0.0.1 in front of a, which
// appends the address it saw to X-Forwarded-For as load balancers do, and
// returns the proxy's URL and a client whose connections come from
// clientAddr (another loopback address, so the proxy sees a real client
// that is not itself).
func behindProxy(t *testing.T, a *apptest.App, clientAddr string) (string, *http.Client) {
	t.Helper()
	target, err := url.Parse(a.URL)
	require.NoError(t, err)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	return proxy.URL, &http.Client{Transport: transport}
}

// postVia sends a JSON body with extra headers through client and returns
// the status and the request id the server answered with.
func postVia(t *testing.T, client *http.Client, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	return res.StatusCode, res.Header.Get("X-Request-ID")
}

// TestForgedForwardedForCannotDodgeTheLoginLimit is the attack: one client
// behind the trusted load balancer sends 30 logins, each with another forged
// address at the left of X-Forwarded-For. The per-address limit must still
// count them as one client's (the address the proxy appended), and the
// access log must name that address, not the forged ones.
func TestForgedForwardedForCannotDodgeTheLoginLimit(t *testing.T) {
	const limit = 10
	a := apptest.Start(t, func(s *settings.Settings) {
		s.Auth.LoginLimitPerIP = limit
		s.HTTP.TrustedProxies = []string{"127.0.0.1"}
	})
	const real = "127.0.0.2"
	proxyURL, client := behindProxy(t, a, real)

	limited := 0
	var ids []string
	for i := range 30 {
		body := fmt.Sprintf(`{"email":"victim%d@example.com","password":"guess number %d"}`, i, i)
		status, id := postVia(t, client, proxyURL+"/v1/auth/login", body, map[string]string{
			"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1), // the forgery
		})
		switch status {
		case http.StatusUnauthorized:
			require.Zero(t, limited, "attempt %d: answered again after a 429", i+1)
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("attempt %d: status %d", i+1, status)
		}
		ids = append(ids, id)
	}
	require.Equal(t, 30-limit, limited, "429s start after the %d allowed attempts", limit)

	remotes := map[string]string{}
	for _, e := range a.Logs().FilterMessage("request").All() {
		f := e.ContextMap()
		remotes[fmt.Sprint(f["request_id"])] = fmt.Sprint(f["remote"])
	}
	for _, id := range ids {
		require.Equal(t, real, remotes[id], "access log line of %s", id)
	}
}

// TestForwardedForFromAnUntrustedPeerIsIgnored: a client that talks to the
// server directly cannot name its own address at all.
func TestForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	a := apptest.Start(t, func(s *settings.Settings) {
		s.Auth.LoginLimitPerIP = 3
		s.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
	})
	for i := range 4 {
		res := a.Do(apptest.Request{Method: http.MethodPost, Path: "/v1/auth/login",
			Body:   map[string]any{"email": fmt.Sprintf("x%d@example.com", i), "password": "whatever!!"},
			Header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d, 10.0.0.1", i+1), "X-Request-ID": fmt.Sprintf("direct-%d", i)}})
		if i < 3 {
			require.Equal(t, http.StatusUnauthorized, res.Status, "attempt %d", i+1)
		} else {
			require.Equal(t, http.StatusTooManyRequests, res.Status, "the fourth attempt from one peer")
		}
	}
	for _, e := range a.Logs().FilterMessage("request").All() {
		f := e.ContextMap()
		if strings.HasPrefix(fmt.Sprint(f["request_id"]), "direct-") {
			require.Equal(t, "127.0.0.1", f["remote"])
		}
	}
}
