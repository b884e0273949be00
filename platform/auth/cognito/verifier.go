// Package cognito verifies Amazon Cognito user-pool JWTs (access tokens, and
// ID tokens when allowed) the way AWS documents it: RS256 signatures checked
// against the pool's JWKS, chosen by kid, then iss, token_use, client_id or
// aud, exp, nbf, iat and sub.
//
// The JWKS cache is written here over net/http rather than taken from
// keyfunc/jwkset: jwkset refreshes for an unknown kid synchronously inside
// the request (parking it for the whole fetch, or cancelling the fetch if the
// request's wait is bounded), makes requests queue on its rate limiter, and
// does its first fetch in the constructor with the error swallowed and the
// next try a whole refresh interval later. Here a single background loop does
// every fetch; a request never waits for the network.
package cognito

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// ErrInvalidToken is wrapped by every rejection of a token; the text after it
// is a short reason for the log, never the token.
var ErrInvalidToken = errors.New("invalid token")

// maxTokenBytes rejects absurd inputs before any decoding; real Cognito
// tokens are a few KiB.
const maxTokenBytes = 32 << 10

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject   string   // sub: the user's stable id
	Username  string   // username (access) or cognito:username (id)
	Email     string   // email, when the token carries it
	Groups    []string // cognito:groups
	ClientID  string   // the app client the token was issued to
	TokenUse  string   // "access" or "id"
	ExpiresAt time.Time
}

// Verifier checks Cognito tokens against a cached JWKS. Build it with New,
// call Start once, Stop at shutdown. Verify and Ready are safe for
// concurrent use.
type Verifier struct {
	cfg       Config
	clientIDs map[string]struct{}
	log       *zap.Logger
	client    *http.Client
	now       func() time.Time // token clock; tests pin it before use
	parser    *jwt.Parser

	keys atomic.Pointer[keySet] // nil until the first successful fetch
	kick chan struct{}          // unknown kid seen: ask the loop for a refresh

	errMu   sync.Mutex
	lastErr error // last fetch failure, for Ready and Unavailable errors

	mu      sync.Mutex // guards the lifecycle below
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}

	state refreshState
}

// New validates cfg, applies its defaults and builds a Verifier. It does no
// I/O; Start fetches the keys.
func New(cfg Config, log *zap.Logger) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.FetchTimeout}
	}
	ids := make(map[string]struct{}, len(cfg.ClientIDs))
	for _, id := range cfg.ClientIDs {
		ids[id] = struct{}{}
	}
	cfg.ClientIDs = append([]string(nil), cfg.ClientIDs...)
	v := &Verifier{
		cfg:       cfg,
		clientIDs: ids,
		log:       log,
		client:    client,
		now:       time.Now,
		kick:      make(chan struct{}, 1),
	}
	// iss, sub, token_use and client_id/aud are checked by hand after the
	// parser, which handles the algorithm, signature and time claims.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

// Start fetches the JWKS once, bounded by ctx and FetchTimeout, then starts
// the background refresh loop, which lives until Stop. A failed first fetch
// is logged and returned (matching derrors.ErrUnavailable), but the loop
// starts anyway and keeps retrying, so the caller may treat it as a warning.
func (v *Verifier) Start(ctx context.Context) error {
	v.mu.Lock()
	if v.stopped {
		v.mu.Unlock()
		return errors.New("cognito: start: verifier is stopped")
	}
	if v.started {
		v.mu.Unlock()
		return errors.New("cognito: start: already started")
	}
	v.started = true
	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	v.cancel, v.done = cancel, done
	v.mu.Unlock()

	// Stop during the first fetch aborts it too.
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(loopCtx, cancelFetch)
	err := v.refresh(fetchCtx)
	stopAfter()
	cancelFetch()

	go v.run(loopCtx, done)
	if err != nil {
		return fmt.Errorf("cognito: start: %w", derrors.Unavailable("cognito", err))
	}
	return nil
}

// Stop ends the refresh loop and waits for it, aborting a fetch in flight.
// It is idempotent and safe before Start; a stopped Verifier keeps verifying
// with the keys it has.
func (v *Verifier) Stop() {
	v.mu.Lock()
	v.stopped = true
	cancel, done := v.cancel, v.done
	v.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Ready returns nil once at least one signing key is cached, and a
// derrors.ErrUnavailable error before that.
func (v *Verifier) Ready() error {
	if v.keys.Load() != nil {
		return nil
	}
	return v.unavailable()
}

func (v *Verifier) unavailable() error {
	v.errMu.Lock()
	cause := v.lastErr
	v.errMu.Unlock()
	if cause == nil {
		return derrors.Unavailable("cognito", errors.New("no signing keys cached yet"))
	}
	return derrors.Unavailable("cognito", fmt.Errorf("no signing keys cached: %w", cause))
}

func (v *Verifier) setLastErr(err error) {
	v.errMu.Lock()
	v.lastErr = err
	v.errMu.Unlock()
}

// requestRefresh asks the loop for a refresh without waiting: the request at
// hand is answered with the keys already cached.
func (v *Verifier) requestRefresh() {
	select {
	case v.kick <- struct{}{}:
	default: // a refresh is already asked for
	}
}

// claims are the Cognito claims we read; the registered ones come from
// jwt.RegisteredClaims so the parser checks exp, nbf and iat.
type claims struct {
	jwt.RegisteredClaims
	TokenUse        string   `json:"token_use"`
	ClientID        string   `json:"client_id"`
	Username        string   `json:"username"`
	CognitoUsername string   `json:"cognito:username"`
	Email           string   `json:"email"`
	Groups          []string `json:"cognito:groups"`
}

// Sentinels returned by the keyfunc so Verify can tell why it failed.
var (
	errNoKeys     = errors.New("no keys cached")
	errMissingKID = errors.New("missing kid")
	errUnknownKID = errors.New("unknown kid")
	errCrit       = errors.New("crit header")
)

// Verify checks token and returns who it belongs to. A rejected token gives
// an error wrapping ErrInvalidToken; while no signing key has ever been
// fetched it gives a derrors.ErrUnavailable error instead, since the token
// may well be good. Verify never waits for the network: an unknown kid only
// schedules a refresh (at most one per UnknownKIDInterval) and is rejected
// now.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, fmt.Errorf("cognito: verify: %w", err)
	}
	if token == "" {
		return Identity{}, invalid("empty token")
	}
	if len(token) > maxTokenBytes {
		return Identity{}, invalid("token too large")
	}
	set := v.keys.Load()
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return v.lookupKey(set, t)
	})
	if err != nil {
		return Identity{}, v.explain(tok, err)
	}

	if c.Issuer != v.cfg.Issuer {
		return Identity{}, invalid("wrong issuer")
	}
	if c.Subject == "" {
		return Identity{}, invalid("missing sub")
	}
	id := Identity{
		Subject:   c.Subject,
		Email:     c.Email,
		Groups:    append([]string(nil), c.Groups...),
		TokenUse:  c.TokenUse,
		ExpiresAt: c.ExpiresAt.Time,
	}
	switch c.TokenUse {
	case "access":
		if c.ClientID == "" {
			return Identity{}, invalid("missing client_id")
		}
		if _, ok := v.clientIDs[c.ClientID]; !ok {
			return Identity{}, invalid("client_id not accepted")
		}
		id.ClientID = c.ClientID
		id.Username = c.Username
	case "id":
		if !v.cfg.AcceptIDTokens {
			return Identity{}, invalid("id tokens not accepted")
		}
		for _, aud := range c.Audience {
			if _, ok := v.clientIDs[aud]; ok {
				id.ClientID = aud
				break
			}
		}
		if id.ClientID == "" {
			return Identity{}, invalid("aud not accepted")
		}
		id.Username = c.CognitoUsername
	case "":
		return Identity{}, invalid("missing token_use")
	default:
		return Identity{}, invalid("wrong token_use")
	}
	return id, nil
}

// lookupKey picks the RSA key named by the token's kid from set.
func (v *Verifier) lookupKey(set *keySet, t *jwt.Token) (*rsa.PublicKey, error) {
	// RFC 7515 §4.1.11: critical extensions we do not understand must fail.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errMissingKID
	}
	if set == nil {
		return nil, errNoKeys
	}
	key, ok := set.keys[kid]
	if !ok {
		v.requestRefresh()
		return nil, errUnknownKID
	}
	return key, nil
}

// explain turns a parser error into ErrInvalidToken with a fixed reason (no
// attacker-controlled text), or into Unavailable when no keys exist.
func (v *Verifier) explain(tok *jwt.Token, err error) error {
	switch {
	case errors.Is(err, errNoKeys):
		return fmt.Errorf("cognito: verify: %w", v.unavailable())
	case errors.Is(err, errMissingKID):
		return invalid("missing kid")
	case errors.Is(err, errUnknownKID):
		return invalid("unknown signing key")
	case errors.Is(err, errCrit):
		return invalid("unsupported crit header")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed token")
	case tok != nil && (tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodRS256.Alg()):
		return invalid("signing method not allowed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("bad signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("token not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("token issued in the future")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("missing exp")
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return invalid("invalid claims")
	default:
		return invalid("unverifiable token")
	}
}

func invalid(reason string) error {
	return fmt.Errorf("cognito: verify: %w: %s", ErrInvalidToken, reason)
}
