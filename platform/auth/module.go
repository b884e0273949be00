package auth

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/auth/cognito"
	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Module provides the password Hasher, the custom-token issuer, the Verifier
// for the configured mode. The users module supplies the
// PrincipalSource.
var Module = fx.Module("auth",
	fx.Provide(
		newHasher,
		newHMACTokens,
		newVerifier,
		fx.Annotate(func(v *cognito.Verifier) []readiness.Check {
			if v == nil {
				return nil // custom mode depends on nothing outside
			}
			return []readiness.Check{{Name: "cognito", Probe: func(context.Context) error { return v.Ready() }}}
		}, fx.ResultTags(`group:"readiness,flatten"`)),
	),
)

// newHasher is the password hasher of the settings: every hash passes
// through one gate sized by auth.password_memory_budget.
func newHasher(lc fx.Lifecycle, s *settings.Settings, log *zap.Logger) Hasher {
	h := DefaultHasher
	h.MemoryKiB = s.Auth.PasswordMemoryKiB
	h.Gate = NewGate(int64(s.Auth.PasswordMemoryBudget), s.Auth.PasswordQueueLength, s.Auth.PasswordQueueWait)
	h.Release = NewIdleRelease(2 * time.Second)
	lc.Append(fx.StopHook(h.Release.Stop))
	log.Debug("password hashing bounded", zap.Int64("at_once", h.Gate.Slots(h.MemoryKiB)),
		zap.Int("budget_bytes", s.Auth.PasswordMemoryBudget), zap.Int("queue", s.Auth.PasswordQueueLength),
		zap.Duration("wait", s.Auth.PasswordQueueWait))
	return h
}

func newHMACTokens(s *settings.Settings, log *zap.Logger) (*HMACTokens, error) {
	if s.Auth.Mode != settings.AuthCustom {
		return nil, nil // cognito mode issues no tokens of ours
	}
	key, err := TokenSecret(s, log)
	if err != nil {
		return nil, err
	}
	return NewHMACTokens(key, s.Auth.Issuer, s.Auth.Audience, s.Auth.TokenTTL), nil
}

// Bounds of the verified-token cache.
const (
	tokenCacheSize   = 10_000
	tokenCacheMaxAge = time.Minute
)

// newVerifier picks the token verifier of the configured mode. The Cognito
// verifier is only built in cognito mode (fx builds it lazily through here).
func newVerifier(lc fx.Lifecycle, s *settings.Settings, log *zap.Logger, tokens *HMACTokens) (Verifier, *cognito.Verifier, error) {
	switch s.Auth.Mode {
	case settings.AuthCustom:
		return newCachedVerifier(tokens, tokenCacheSize, tokenCacheMaxAge), nil, nil
	case settings.AuthCognito:
		v, err := newCognito(lc, s, log)
		if err != nil {
			return nil, nil, err
		}
		return newCachedVerifier(cognitoVerifier{v}, tokenCacheSize, tokenCacheMaxAge), v, nil
	}
	return nil, nil, fmt.Errorf("setting SLIPWAY_AUTH_MODE: %q is not one of custom, cognito", s.Auth.Mode)
}
