package auth

import (
	"context"
	"sync"
	"time"
)

// cachedVerifier remembers tokens that verified, so a client sending the same
// token on every request pays for parsing and signature checking once a
// minute rather than on every request (a quarter of an authenticated read's
// CPU). Only successes are kept; an entry lives until the token expires or
// maxAge passes, whichever is first, so a key removed from Cognito's JWKS stops
// working within maxAge. Whether the user is still active is checked on every
// request by the PrincipalSource, never cached here.
type cachedVerifier struct {
	next   Verifier
	maxAge time.Duration
	limit  int
	now    func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedClaims
}

type cachedClaims struct {
	claims Claims
	until  time.Time
}

var _ Verifier = (*cachedVerifier)(nil)

// newCachedVerifier wraps v with a cache of at most limit tokens.
func newCachedVerifier(v Verifier, limit int, maxAge time.Duration) *cachedVerifier {
	return &cachedVerifier{next: v, maxAge: maxAge, limit: limit, now: time.Now, entries: map[string]cachedClaims{}}
}

func (c *cachedVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e.claims, nil
	}
	claims, err := c.next.Verify(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	until := now.Add(c.maxAge)
	if !claims.ExpiresAt.IsZero() && claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt
	}
	c.mu.Lock()
	if len(c.entries) >= c.limit {
		// Full: start over rather than track recency; the cost is one
		// verification per active token.
		c.entries = make(map[string]cachedClaims, c.limit)
	}
	c.entries[token] = cachedClaims{claims: claims, until: until}
	c.mu.Unlock()
	return claims, nil
}
