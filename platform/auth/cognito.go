package auth

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/auth/cognito"
	"github.com/slipwayhq/slipway/platform/settings"
)

// cognitoVerifier adapts the Cognito verifier to Verifier.
type cognitoVerifier struct{ v *cognito.Verifier }

var _ Verifier = cognitoVerifier{}

func (c cognitoVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	id, err := c.v.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, cognito.ErrInvalidToken) {
			return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		return Claims{}, err // derrors.Unavailable("cognito", …): 503, retryable
	}
	return Claims{Subject: id.Subject, Email: id.Email, Username: id.Username, Groups: id.Groups, External: true,
		ExpiresAt: id.ExpiresAt}, nil
}

// newCognito builds the Cognito verifier and ties its key fetching to the app
// lifecycle: the first JWKS fetch runs in OnStart with a bounded wait, and a
// failure is logged, not fatal (requests get 503 until keys arrive).
func newCognito(lc fx.Lifecycle, s *settings.Settings, log *zap.Logger) (*cognito.Verifier, error) {
	c := s.Auth.Cognito
	v, err := cognito.New(cognito.Config{
		Region: c.Region, UserPoolID: c.UserPoolID, ClientIDs: c.ClientIDs,
		Issuer: c.Issuer, JWKSURL: c.JWKSURL, AcceptIDTokens: c.AcceptIDTokens,
		Leeway: c.Leeway, RefreshInterval: c.RefreshInterval, UnknownKIDInterval: c.UnknownKIDMinInterval,
		FetchTimeout: c.FetchTimeout,
	}, log.Named("cognito"))
	if err != nil {
		return nil, fmt.Errorf("cognito settings: %w", err)
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, c.FetchTimeout)
			defer cancel()
			if err := v.Start(ctx); err != nil {
				log.Warn("cognito keys not fetched at start; requests get 503 until they are", zap.Error(err))
			}
			return nil
		},
		OnStop: func(context.Context) error { v.Stop(); return nil },
	})
	return v, nil
}
