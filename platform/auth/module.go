package auth

import (
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Module provides the password Hasher, the custom-token issuer, the Verifier
// for the configured mode and the route Guard. The users module supplies the
// PrincipalSource.
var Module = fx.Module("auth",
	fx.Provide(
		func(s *settings.Settings) Hasher {
			h := DefaultHasher
			h.MemoryKiB = s.Auth.PasswordMemoryKiB
			return h
		},
		newHMACTokens,
		newVerifier,
		fx.Annotate(NewGuard, fx.As(new(httpserver.Guard))),
	),
)

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

func newVerifier(s *settings.Settings, tokens *HMACTokens) (Verifier, error) {
	switch s.Auth.Mode {
	case settings.AuthCustom:
		return tokens, nil
	}
	return nil, fmt.Errorf("setting SLIPWAY_AUTH_MODE: %q is not supported yet", s.Auth.Mode)
}
