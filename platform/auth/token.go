package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// HMACTokens issues and verifies Slipway's own access tokens: HS256 JWTs with
// sub, iss, aud, iat, exp and a kid naming the key, so the key can rotate.
type HMACTokens struct {
	key      []byte
	kid      string
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

var _ Verifier = (*HMACTokens)(nil)

// NewHMACTokens builds the issuer/verifier for key.
func NewHMACTokens(key []byte, issuer, audience string, ttl time.Duration) *HMACTokens {
	sum := sha256.Sum256(key)
	return &HMACTokens{
		key: key, kid: hex.EncodeToString(sum[:4]), issuer: issuer, audience: audience, ttl: ttl,
		now: time.Now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), // no algorithm confusion
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(5*time.Second),
		),
	}
}

// TTL is the lifetime of issued tokens.
func (t *HMACTokens) TTL() time.Duration { return t.ttl }

// Issue mints a token for userID.
func (t *HMACTokens) Issue(userID string) (string, error) {
	now := t.now()
	claims := jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    t.issuer,
		Audience:  jwt.ClaimStrings{t.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// errCrit refuses tokens that list critical header extensions.
var errCrit = errors.New("unsupported crit header")

// Verify checks signature, algorithm, issuer, audience, expiry and kid, and
// refuses a token whose header has "crit".
func (t *HMACTokens) Verify(_ context.Context, raw string) (Claims, error) {
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a recipient must refuse a token listing an
		// extension it does not understand, and we understand none. We never
		// issue crit, so its presence alone is enough.
		if _, ok := tok.Header["crit"]; ok {
			return nil, errCrit
		}
		if kid, _ := tok.Header["kid"].(string); kid != t.kid {
			return nil, fmt.Errorf("unknown key id")
		}
		return t.key, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return Claims{Subject: claims.Subject, ExpiresAt: claims.ExpiresAt.Time}, nil
}
