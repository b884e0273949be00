package cognito

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	// maxJWKSBytes caps a JWKS response; Cognito's is well under 2 KiB.
	maxJWKSBytes = 1 << 20
	// minRSABits and maxRSABits bound accepted moduli: Cognito signs with
	// 2048-bit keys; a huge modulus would only make verification slow.
	minRSABits = 2048
	maxRSABits = 8192
)

// keySet is one successfully fetched JWKS, never modified after publication.
type keySet struct {
	keys map[string]*rsa.PublicKey
}

// jwk holds the fields of a JSON Web Key that matter for RS256.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetchKeys downloads and parses the JWKS, bounded by FetchTimeout and ctx.
func (v *Verifier) fetchKeys(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: unexpected status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: read body: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch jwks: body larger than %d bytes", maxJWKSBytes)
	}
	set, skipped, err := parseJWKS(body)
	for _, s := range skipped {
		v.log.Debug("cognito jwks key ignored", zap.String("reason", s))
	}
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	return set, nil
}

// parseJWKS keeps the RS256 signing keys of a JWKS document and says why it
// skipped the others. A set without one usable key is an error, so a broken
// response never replaces keys that work.
func parseJWKS(body []byte) (*keySet, []string, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode jwks: %w", err)
	}
	set := &keySet{keys: make(map[string]*rsa.PublicKey, len(doc.Keys))}
	var skipped []string
	for i, k := range doc.Keys {
		pub, err := k.rsaPublicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, k.Kid, err))
			continue
		}
		if _, dup := set.keys[k.Kid]; dup {
			skipped = append(skipped, fmt.Sprintf("key %d: duplicate kid %q", i, k.Kid))
			continue
		}
		set.keys[k.Kid] = pub
	}
	if len(set.keys) == 0 {
		return nil, skipped, fmt.Errorf("jwks has no usable RS256 key (%d keys listed)", len(doc.Keys))
	}
	return set, skipped, nil
}

func (k jwk) rsaPublicKey() (*rsa.PublicKey, error) {
	switch {
	case k.Kid == "":
		return nil, errors.New("no kid")
	case k.Kty != "RSA":
		return nil, fmt.Errorf("kty %q is not RSA", k.Kty)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("use %q is not sig", k.Use)
	case k.Alg != "" && k.Alg != "RS256":
		return nil, fmt.Errorf("alg %q is not RS256", k.Alg)
	}
	n, err := decodeB64URL(k.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := decodeB64URL(k.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("modulus of %d bits is outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
		return nil, errors.New("exponent is not an odd integer in [3, 2^31)")
	}
	return &rsa.PublicKey{N: mod, E: int(exp.Int64())}, nil
}

// decodeB64URL decodes base64url, with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return b, nil
}

// refreshState is owned by Start until it launches the refresh loop, then by
// the loop alone.
type refreshState struct {
	lastAttempt time.Time
	lastFailed  bool
	failures    int // consecutive
}

// refresh fetches the JWKS once and publishes the keys on success. A failure
// keeps whatever keys are cached.
func (v *Verifier) refresh(ctx context.Context) error {
	v.state.lastAttempt = time.Now()
	set, err := v.fetchKeys(ctx)
	if err != nil {
		v.state.lastFailed = true
		v.state.failures++
		v.setLastErr(err)
		v.log.Warn("cognito jwks refresh failed",
			zap.String("url", v.cfg.JWKSURL),
			zap.Int("consecutive_failures", v.state.failures),
			zap.Bool("keys_cached", v.keys.Load() != nil),
			zap.Error(err))
		return err
	}
	v.state.lastFailed = false
	v.state.failures = 0
	v.setLastErr(nil)
	old := v.keys.Swap(set)
	added, removed := diffKids(old, set)
	if len(added) > 0 || len(removed) > 0 {
		v.log.Info("cognito signing keys updated",
			zap.String("url", v.cfg.JWKSURL),
			zap.Strings("added", added),
			zap.Strings("removed", removed),
			zap.Int("keys", len(set.keys)))
	}
	return nil
}

func diffKids(old, cur *keySet) (added, removed []string) {
	var before map[string]*rsa.PublicKey
	if old != nil {
		before = old.keys
	}
	for kid := range cur.keys {
		if _, ok := before[kid]; !ok {
			added = append(added, kid)
		}
	}
	for kid := range before {
		if _, ok := cur.keys[kid]; !ok {
			removed = append(removed, kid)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// nextRefresh says when the loop fetches next. While keys are cached, two
// fetches start at least UnknownKIDInterval apart, whatever asks for them:
// an unknown kid asks for the next fetch one UnknownKIDInterval after the
// last one started, so a flood of made-up kids costs one fetch per interval
// and never delays a real new key by more than that. Without one, a failed
// fetch is retried after RefreshInterval and good keys are refetched after
// MaxKeyAge. Before the first success the loop retries sooner, backing off
// from one second up to RefreshInterval, since every request fails until
// then.
func (v *Verifier) nextRefresh(unknownKID bool) time.Time {
	interval := v.cfg.RefreshInterval
	if v.keys.Load() == nil {
		backoff := min(time.Second, interval)
		for i := 1; i < v.state.failures && backoff < interval; i++ {
			backoff *= 2
		}
		return v.state.lastAttempt.Add(min(backoff, interval))
	}
	switch {
	case unknownKID:
		return v.state.lastAttempt.Add(v.cfg.UnknownKIDInterval)
	case v.state.lastFailed:
		return v.state.lastAttempt.Add(interval)
	}
	return v.state.lastAttempt.Add(v.cfg.MaxKeyAge)
}

// run is the refresh loop: one goroutine does every background fetch, so
// fetches never overlap and the spacing rule of nextRefresh holds.
func (v *Verifier) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	unknownKID := false
	for {
		timer.Reset(time.Until(v.nextRefresh(unknownKID)))
		select {
		case <-ctx.Done():
			return
		case <-v.kick:
			unknownKID = true
		case <-timer.C:
			_ = v.refresh(ctx) // logged inside; cached keys stay on failure
			unknownKID = false
			// Requests that saw the old key set while this fetch ran asked
			// for the refresh that just happened: coalesce them.
			select {
			case <-v.kick:
			default:
			}
		}
	}
}
