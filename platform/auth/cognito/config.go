package cognito

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Defaults applied by New to zero-valued durations.
const (
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultUnknownKIDInterval = 5 * time.Second
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMaxKeyAge          = time.Hour
)

// Config says which user pool and app clients a Verifier trusts.
type Config struct {
	// Region and UserPoolID name the user pool; both are required unless
	// Issuer is set. UserPoolID looks like "{region}_{id}".
	Region, UserPoolID string
	// ClientIDs are the accepted app clients: the client_id of access tokens
	// and the aud of ID tokens. At least one is required.
	ClientIDs []string
	// Issuer must equal a token's iss exactly. Default:
	// https://cognito-idp.{region}.amazonaws.com/{poolId}.
	Issuer string
	// JWKSURL is where the signing keys are published. Default:
	// {Issuer}/.well-known/jwks.json. It must be https, except on loopback hosts.
	JWKSURL string
	// AcceptIDTokens makes token_use "id" acceptable; access tokens always are.
	AcceptIDTokens bool
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// RefreshInterval is how long after a failed JWKS fetch the next one
	// runs while keys are cached (unless an unknown kid asks sooner), and
	// the longest wait between retries before the first success. Default 5m.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the minimum time between the start of a fetch
	// asked for by a token with an unknown kid and the start of the fetch
	// before it: a flood of made-up kids causes at most one fetch per
	// interval, and a key Cognito has just published is fetched at most one
	// interval after its first token arrives, whatever came before. Default
	// 5s, or RefreshInterval when that is shorter; it may not be longer.
	UnknownKIDInterval time.Duration
	// FetchTimeout bounds one JWKS HTTP fetch. Default 10s.
	FetchTimeout time.Duration
	// MaxKeyAge is how often cached keys are refetched when nothing else
	// triggers a refresh, so keys removed from the JWKS stop verifying.
	// Default 1h; must not be shorter than RefreshInterval.
	MaxKeyAge time.Duration
	// HTTPClient fetches the JWKS; nil means a private client. Each fetch is
	// bounded by FetchTimeout whatever the client's own settings.
	HTTPClient *http.Client
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	poolRE   = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9]+)_[0-9A-Za-z]+$`)
)

// withDefaults validates cfg and fills in the defaults; every problem names
// the field at fault.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.Region != "" && !regionRE.MatchString(cfg.Region) {
		bad("Region %q is not an AWS region such as eu-west-1", cfg.Region)
	}
	if cfg.UserPoolID != "" {
		m := poolRE.FindStringSubmatch(cfg.UserPoolID)
		switch {
		case m == nil:
			bad("UserPoolID %q does not look like {region}_{id}", cfg.UserPoolID)
		case cfg.Region != "" && m[1] != cfg.Region:
			bad("UserPoolID %q belongs to region %q, not Region %q", cfg.UserPoolID, m[1], cfg.Region)
		}
	}
	if cfg.Issuer == "" {
		if cfg.Region == "" {
			bad("Region is required when Issuer is not set")
		}
		if cfg.UserPoolID == "" {
			bad("UserPoolID is required when Issuer is not set")
		}
		if cfg.Region != "" && cfg.UserPoolID != "" {
			domain := "amazonaws.com"
			if strings.HasPrefix(cfg.Region, "cn-") {
				domain = "amazonaws.com.cn"
			}
			cfg.Issuer = fmt.Sprintf("https://cognito-idp.%s.%s/%s", cfg.Region, domain, cfg.UserPoolID)
		}
	} else if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("Issuer %q is not an absolute http(s) URL", cfg.Issuer)
	}

	if cfg.JWKSURL == "" && cfg.Issuer != "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL); err != nil {
			bad("JWKSURL %q %v", cfg.JWKSURL, err)
		}
	}

	if len(cfg.ClientIDs) == 0 {
		bad("ClientIDs needs at least one app client id")
	}
	for i, id := range cfg.ClientIDs {
		if strings.TrimSpace(id) == "" {
			bad("ClientIDs[%d] is empty", i)
		}
	}

	if cfg.Leeway < 0 {
		bad("Leeway %v is negative", cfg.Leeway)
	}
	if cfg.RefreshInterval < 0 {
		bad("RefreshInterval %v is negative", cfg.RefreshInterval)
	} else if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.UnknownKIDInterval < 0 {
		bad("UnknownKIDInterval %v is negative", cfg.UnknownKIDInterval)
	} else if cfg.UnknownKIDInterval == 0 {
		cfg.UnknownKIDInterval = min(DefaultUnknownKIDInterval, cfg.RefreshInterval)
	}
	if cfg.RefreshInterval > 0 && cfg.UnknownKIDInterval > cfg.RefreshInterval {
		bad("UnknownKIDInterval %v is longer than RefreshInterval %v", cfg.UnknownKIDInterval, cfg.RefreshInterval)
	}
	if cfg.FetchTimeout < 0 {
		bad("FetchTimeout %v is negative", cfg.FetchTimeout)
	} else if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxKeyAge < 0 {
		bad("MaxKeyAge %v is negative", cfg.MaxKeyAge)
	} else if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = max(DefaultMaxKeyAge, cfg.RefreshInterval)
	}
	if cfg.RefreshInterval > 0 && cfg.MaxKeyAge > 0 && cfg.MaxKeyAge < cfg.RefreshInterval {
		bad("MaxKeyAge %v is shorter than RefreshInterval %v", cfg.MaxKeyAge, cfg.RefreshInterval)
	}

	if len(errs) > 0 {
		return Config{}, fmt.Errorf("cognito: invalid config: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// checkJWKSURL refuses plain http outside loopback: whoever can answer the
// JWKS fetch can mint tokens.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return errors.New("must use https (plain http is allowed only on loopback)")
	default:
		return errors.New("must use https")
	}
}
