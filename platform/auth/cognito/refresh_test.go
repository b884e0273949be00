package cognito

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func requireReason(t *testing.T, err error, reason string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidToken)
	require.True(t, strings.HasSuffix(err.Error(), ": "+reason), "error %q, want reason %q", err, reason)
}

func TestKeyRotation(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	cfg := baseConfig(srv)
	cfg.RefreshInterval = 200 * time.Millisecond
	v := newVerifier(t, cfg, nil)
	startVerifier(t, v)
	require.EqualValues(t, 1, srv.hits.Load())

	ctx := context.Background()
	tokA := rs256(t, keyA(), kidA, accessClaims())
	tokB := rs256(t, keyB(), kidB, accessClaims())
	_, err := v.Verify(ctx, tokA)
	require.NoError(t, err)

	// Cognito publishes kid B and retires kid A.
	srv.setKeys(map[string]*rsa.PrivateKey{kidB: keyB()})
	_, err = v.Verify(ctx, tokB)
	requireReason(t, err, "unknown signing key")

	require.Eventually(t, func() bool {
		_, err := v.Verify(ctx, tokB)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 2, srv.hits.Load(), "one refresh brings the new kid")

	// The retired key no longer verifies.
	_, err = v.Verify(ctx, tokA)
	requireReason(t, err, "unknown signing key")
}

func TestPeriodicRefreshDropsRemovedKeys(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	cfg := baseConfig(srv)
	cfg.RefreshInterval = 50 * time.Millisecond
	cfg.MaxKeyAge = 300 * time.Millisecond
	v := newVerifier(t, cfg, nil)
	startVerifier(t, v)

	srv.setKeys(map[string]*rsa.PrivateKey{kidB: keyB()})
	// No request asks for kid B: the periodic refresh must find it alone.
	require.Eventually(t, func() bool { return srv.hits.Load() >= 2 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		set := v.keys.Load()
		_, hasB := set.keys[kidB]
		return hasB
	}, 5*time.Second, 10*time.Millisecond)
	_, err := v.Verify(context.Background(), rs256(t, keyB(), kidB, accessClaims()))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), rs256(t, keyA(), kidA, accessClaims()))
	requireReason(t, err, "unknown signing key")
}

// floodUnknownKIDs verifies n tokens with random kids in parallel and returns
// their latencies, sorted.
func floodUnknownKIDs(t *testing.T, v *Verifier, n int) []time.Duration {
	t.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = attackerToken(t, i)
	}
	latencies := make([]time.Duration, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			<-start
			began := time.Now()
			_, errs[i] = v.Verify(context.Background(), tokens[i])
			latencies[i] = time.Since(began)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		requireReason(t, err, "unknown signing key")
	}
	slices.Sort(latencies)
	return latencies
}

// attackerToken is a token with a made-up kid. The kid lookup fails before
// any signature check, so a random signature is as good as a real one and
// much cheaper to make.
func attackerToken(t *testing.T, i int) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, accessClaims())
	tok.Header["kid"] = fmt.Sprintf("attacker-%d-%s", i, rand.Text())
	signing, err := tok.SigningString()
	require.NoError(t, err)
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	return signing + "." + b64(sig)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func TestUnknownKIDFlood(t *testing.T) {
	const interval = 200 * time.Millisecond
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	cfg := baseConfig(srv)
	cfg.RefreshInterval = interval
	cfg.FetchTimeout = 10 * time.Second
	v := newVerifier(t, cfg, nil)

	began := time.Now()
	startVerifier(t, v)
	withinLimit := func() {
		t.Helper()
		hits, elapsed := srv.hits.Load(), time.Since(began)
		limit := 1 + int64(elapsed/interval)
		require.LessOrEqual(t, hits, limit, "%d JWKS fetches in %v", hits, elapsed)
	}
	good := rs256(t, keyA(), kidA, accessClaims())

	// Round 1: a fast JWKS endpoint; the flood may cause one refresh per interval.
	lat := floodUnknownKIDs(t, v, 1000)
	withinLimit()
	t.Logf("flood on a fast JWKS: p50 %v, p99 %v, max %v", percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1])
	require.Eventually(t, func() bool { return srv.hits.Load() >= 2 }, 5*time.Second, 5*time.Millisecond, "the flood must trigger a refresh")
	withinLimit()
	_, err := v.Verify(context.Background(), good)
	require.NoError(t, err)

	// Round 2: the JWKS endpoint takes 3s to answer and a refresh is in
	// flight; nobody may wait for it.
	const slow = 3 * time.Second
	srv.setMode(serveOK, slow)
	before := srv.hits.Load()
	_, err = v.Verify(context.Background(), rs256(t, keyA(), "trigger", accessClaims()))
	requireReason(t, err, "unknown signing key")
	require.Eventually(t, func() bool { return srv.hits.Load() > before }, 5*time.Second, 5*time.Millisecond)
	withinLimit()

	lat = floodUnknownKIDs(t, v, 1000)
	withinLimit()
	t.Logf("flood during a slow (%v) JWKS fetch: p50 %v, p99 %v, max %v", slow, percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1])
	// Only the slowest request says whether one waited for the fetch; a
	// percentile bound would measure how busy the machine is.
	require.Less(t, lat[len(lat)-1], slow/2, "a request waited for the JWKS fetch")
	_, err = v.Verify(context.Background(), good)
	require.NoError(t, err, "cached keys work while a refresh is in flight")
	withinLimit()
}

func TestJWKSOutageKeepsCachedKeys(t *testing.T) {
	tests := []struct {
		name string
		mode serveMode
	}{
		{"http 500", serveError},
		{"not json", serveGarbage},
		{"empty key set", serveEmpty},
		{"hangs past FetchTimeout", serveHang},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
			cfg := baseConfig(srv)
			cfg.RefreshInterval = 50 * time.Millisecond
			cfg.FetchTimeout = 200 * time.Millisecond
			v := newVerifier(t, cfg, nil)
			startVerifier(t, v)
			ctx := context.Background()
			good := rs256(t, keyA(), kidA, accessClaims())

			srv.setMode(tc.mode, 0)
			_, err := v.Verify(ctx, rs256(t, keyA(), "new-kid", accessClaims()))
			requireReason(t, err, "unknown signing key")
			require.Eventually(t, func() bool { return lastFetchErr(v) != nil }, 5*time.Second, 5*time.Millisecond,
				"the refresh must run and fail")
			require.GreaterOrEqual(t, srv.hits.Load(), int64(2))

			id, err := v.Verify(ctx, good)
			require.NoError(t, err)
			require.Equal(t, "user-123", id.Subject)
			require.NoError(t, v.Ready())

			// Recovery: the endpoint comes back with a new key.
			srv.setKeys(map[string]*rsa.PrivateKey{kidA: keyA(), kidB: keyB()})
			srv.setMode(serveOK, 0)
			require.Eventually(t, func() bool {
				_, err := v.Verify(ctx, rs256(t, keyB(), kidB, accessClaims()))
				return err == nil
			}, 5*time.Second, 10*time.Millisecond)
		})
	}
}

func TestNoKeysIsUnavailable(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	srv.setMode(serveError, 0)
	v := newVerifier(t, baseConfig(srv), nil)
	ctx := context.Background()
	good := rs256(t, keyA(), kidA, accessClaims())

	// Before Start: nothing was ever fetched.
	_, err := v.Verify(ctx, good)
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.NotErrorIs(t, err, ErrInvalidToken)
	require.ErrorIs(t, v.Ready(), derrors.ErrUnavailable)

	err = v.Start(ctx)
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	var ue *derrors.UnavailableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "cognito", ue.Service)

	_, err = v.Verify(ctx, good)
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.NotErrorIs(t, err, ErrInvalidToken)
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "cognito", ue.Service)
	require.Contains(t, err.Error(), "status 500", "the cause is kept for the log")
	require.ErrorIs(t, v.Ready(), derrors.ErrUnavailable)

	// A token that cannot be good is still a plain rejection.
	_, err = v.Verify(ctx, "garbage")
	requireReason(t, err, "malformed token")
	_, err = v.Verify(ctx, rs256(t, keyA(), "", accessClaims()))
	requireReason(t, err, "missing kid")
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidA, accessClaims()))
	requireReason(t, err, "signing method not allowed")
}

func TestStartWithDeadEndpoint(t *testing.T) {
	tests := []struct {
		name string
		mode serveMode
	}{
		{"hanging endpoint", serveHang},
		{"failing endpoint", serveError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
			srv.setMode(tc.mode, 0)
			cfg := baseConfig(srv)
			cfg.RefreshInterval = 200 * time.Millisecond
			cfg.FetchTimeout = 500 * time.Millisecond
			v := newVerifier(t, cfg, nil)

			const bound = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			began := time.Now()
			err := v.Start(ctx)
			took := time.Since(began)
			require.ErrorIs(t, err, derrors.ErrUnavailable)
			require.Less(t, took, bound+time.Second, "Start must respect its ctx")
			require.ErrorIs(t, v.Ready(), derrors.ErrUnavailable)

			// The background loop keeps trying while the endpoint is dead...
			require.Eventually(t, func() bool { return srv.hits.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
			// ...and picks the keys up once it is back.
			srv.setMode(serveOK, 0)
			good := rs256(t, keyA(), kidA, accessClaims())
			require.Eventually(t, func() bool {
				_, err := v.Verify(context.Background(), good)
				return err == nil
			}, 10*time.Second, 10*time.Millisecond)
			require.NoError(t, v.Ready())
		})
	}
}

func TestStartWithRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg := Config{Region: testRegion, UserPoolID: testPool, ClientIDs: []string{clientA},
		JWKSURL: "http://" + addr + "/jwks.json", RefreshInterval: time.Second, FetchTimeout: time.Second}
	v := newVerifier(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = v.Start(ctx)
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	_, err = v.Verify(context.Background(), rs256(t, keyA(), kidA, accessClaims()))
	require.ErrorIs(t, err, derrors.ErrUnavailable)
}

func TestLifecycle(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	cfg := baseConfig(srv)
	cfg.RefreshInterval = 50 * time.Millisecond
	ctx := context.Background()
	good := rs256(t, keyA(), kidA, accessClaims())

	t.Run("stop before start", func(t *testing.T) {
		v := newVerifier(t, cfg, nil)
		v.Stop()
		v.Stop()
		require.Error(t, v.Start(ctx), "a stopped verifier does not start")
		require.Zero(t, srv.hits.Load())
	})

	t.Run("start twice", func(t *testing.T) {
		v := newVerifier(t, cfg, nil)
		startVerifier(t, v)
		require.Error(t, v.Start(ctx))
	})

	t.Run("stop ends refreshes and keeps keys", func(t *testing.T) {
		v := newVerifier(t, cfg, nil)
		startVerifier(t, v)
		v.Stop()
		v.Stop()
		before := srv.hits.Load()
		_, err := v.Verify(ctx, rs256(t, keyA(), "unknown", accessClaims()))
		requireReason(t, err, "unknown signing key")
		require.Never(t, func() bool { return srv.hits.Load() != before }, 4*cfg.RefreshInterval, 10*time.Millisecond)
		_, err = v.Verify(ctx, good)
		require.NoError(t, err)
	})

	t.Run("stop aborts a hanging fetch", func(t *testing.T) {
		hang := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
		hang.setMode(serveHang, 0)
		c := baseConfig(hang)
		c.FetchTimeout = time.Minute
		v := newVerifier(t, c, nil)
		started := make(chan error, 1)
		go func() { started <- v.Start(context.Background()) }()
		require.Eventually(t, func() bool { return hang.hits.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
		began := time.Now()
		v.Stop()
		require.Less(t, time.Since(began), 5*time.Second)
		select {
		case err := <-started:
			require.ErrorIs(t, err, derrors.ErrUnavailable)
		case <-time.After(5 * time.Second):
			t.Fatal("Start did not return after Stop")
		}
	})

	t.Run("concurrent verify, refresh and stop", func(t *testing.T) {
		v := newVerifier(t, cfg, nil)
		startVerifier(t, v)
		unknown := make([]string, 8)
		for i := range unknown {
			unknown[i] = rs256(t, keyA(), fmt.Sprintf("unknown-%d", i), accessClaims())
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 50 {
					if j%5 == 0 {
						if _, err := v.Verify(ctx, unknown[i]); !errors.Is(err, ErrInvalidToken) {
							t.Errorf("unknown kid: got %v", err)
						}
						continue
					}
					if _, err := v.Verify(ctx, good); err != nil {
						t.Errorf("good token rejected: %v", err)
					}
				}
			})
		}
		wg.Go(v.Stop)
		wg.Wait()
	})
}

func TestJWKSParsing(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	n := b64(keyA().N.Bytes())
	rsaKey := func(kid, use, alg, n, e string) string {
		return fmt.Sprintf(`{"kty":"RSA","kid":%q,"use":%q,"alg":%q,"n":%q,"e":%q}`, kid, use, alg, n, e)
	}
	tests := []struct {
		name     string
		body     string
		wantKids []string
		wantErr  string
	}{
		{name: "cognito shape", body: `{"keys":[` + rsaKey("a", "sig", "RS256", n, "AQAB") + `]}`, wantKids: []string{"a"}},
		{name: "no use no alg", body: `{"keys":[` + rsaKey("a", "", "", n, "AQAB") + `]}`, wantKids: []string{"a"}},
		{name: "padded base64", body: `{"keys":[` + rsaKey("a", "sig", "RS256", n+"==", "AQAB") + `]}`, wantKids: []string{"a"}},
		{name: "mixed set keeps the good key", body: `{"keys":[` + strings.Join([]string{
			rsaKey("good", "sig", "RS256", n, "AQAB"),
			`{"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"}`,
			rsaKey("enc", "enc", "RS256", n, "AQAB"),
			rsaKey("rs512", "sig", "RS512", n, "AQAB"),
			rsaKey("", "sig", "RS256", n, "AQAB"),
			rsaKey("small", "sig", "RS256", b64(small.N.Bytes()), "AQAB"),
			rsaKey("even-e", "sig", "RS256", n, "AQAC"),
			rsaKey("e-one", "sig", "RS256", n, "AQ"),
			rsaKey("bad-n", "sig", "RS256", "***", "AQAB"),
			rsaKey("good", "sig", "RS256", b64(keyB().N.Bytes()), "AQAB"),
		}, ",") + `]}`, wantKids: []string{"good"}},
		{name: "empty set", body: `{"keys":[]}`, wantErr: "no usable RS256 key"},
		{name: "only unusable keys", body: `{"keys":[` + rsaKey("small", "sig", "RS256", b64(small.N.Bytes()), "AQAB") + `]}`, wantErr: "no usable RS256 key"},
		{name: "not json", body: `<html>`, wantErr: "decode jwks"},
		{name: "keys not a list", body: `{"keys":{}}`, wantErr: "decode jwks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, _, err := parseJWKS([]byte(tc.body))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var kids []string
			for kid := range set.keys {
				kids = append(kids, kid)
			}
			require.ElementsMatch(t, tc.wantKids, kids)
			if tc.name == "mixed set keeps the good key" {
				require.Equal(t, keyA().N, set.keys["good"].N, "the first of two duplicate kids wins")
			}
		})
	}
}

func TestJWKSResponseTooLarge(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.setBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
	v := newVerifier(t, baseConfig(srv), nil)
	err := v.Start(context.Background())
	require.ErrorIs(t, err, derrors.ErrUnavailable)
	require.ErrorContains(t, err, "larger than")
}

func TestErrorsNeverHoldTheToken(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	v := newVerifier(t, baseConfig(srv), nil)
	startVerifier(t, v)
	claims := with(accessClaims(), "client_id", "secret-client")
	tok := rs256(t, keyA(), kidA, claims)
	_, err := v.Verify(context.Background(), tok)
	require.Error(t, err)
	for _, part := range strings.Split(tok, ".") {
		require.NotContains(t, err.Error(), part)
	}
	require.NotContains(t, err.Error(), "secret-client")
	require.False(t, errors.Is(err, derrors.ErrUnavailable))
}

// TestRotatedKeyAfterUnknownKIDFlood runs on synctest's fake clock: an
// attacker sends tokens with made-up kids every 100ms for three minutes,
// and a minute in Cognito publishes a new key that users start presenting.
// Every Verify must answer without waiting (no fake time passes inside
// it), the JWKS must be fetched at most once per UnknownKIDInterval, and
// the new key must verify within one UnknownKIDInterval of its first token.
//
// The JWKS server lives outside the bubble, and the verifier's client keeps
// no idle connections: a connection's goroutines blocked in a network read
// would stop the fake clock.
func TestRotatedKeyAfterUnknownKIDFlood(t *testing.T) {
	srv := newJWKSServer(t, map[string]*rsa.PrivateKey{kidA: keyA()})
	synctest.Test(t, func(t *testing.T) {
		const (
			flood   = 5 * time.Second
			refresh = 5 * time.Minute
			tick    = 100 * time.Millisecond
		)
		cfg := baseConfig(srv)
		cfg.RefreshInterval = refresh
		cfg.UnknownKIDInterval = flood
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		v := newVerifier(t, cfg, nil)
		began := time.Now()
		startVerifier(t, v)
		synctest.Wait()
		require.EqualValues(t, 1, srv.hits.Load())

		ctx := context.Background()
		tokA := rs256(t, keyA(), kidA, accessClaims())
		tokB := rs256(t, keyB(), kidB, accessClaims())
		verify := func(tok string) error {
			t.Helper()
			before := time.Now()
			_, err := v.Verify(ctx, tok)
			require.Equal(t, before, time.Now(), "Verify waited")
			return err
		}
		withinLimit := func() {
			t.Helper()
			synctest.Wait() // any fetch due has run
			hits, elapsed := srv.hits.Load(), time.Since(began)
			require.LessOrEqual(t, hits, 1+int64(elapsed/flood), "%d JWKS fetches in %v", hits, elapsed)
		}

		var published, acceptedAt time.Time
		for i := 0; time.Since(began) < 3*time.Minute; i++ {
			requireReason(t, verify(attackerToken(t, i)), "unknown signing key")
			require.NoError(t, verify(tokA))
			if published.IsZero() && time.Since(began) >= time.Minute {
				srv.setKeys(map[string]*rsa.PrivateKey{kidA: keyA(), kidB: keyB()})
				published = time.Now()
			}
			if !published.IsZero() && acceptedAt.IsZero() {
				if err := verify(tokB); err == nil {
					acceptedAt = time.Now()
				} else {
					requireReason(t, err, "unknown signing key")
				}
			}
			time.Sleep(tick) // advances the fake clock: the attacker's pace
			withinLimit()
		}
		require.False(t, acceptedAt.IsZero(), "the new key was never accepted")
		delay := acceptedAt.Sub(published)
		t.Logf("new key accepted %v after its first token, during a flood; %d JWKS fetches in %v",
			delay, srv.hits.Load(), time.Since(began))
		require.LessOrEqual(t, delay, flood)
		require.GreaterOrEqual(t, srv.hits.Load(), int64(3*time.Minute/flood), "the flood keeps refreshing at its limit")
	})
}
