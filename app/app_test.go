package app

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/settings"
)

// TestGraphIsComplete checks every constructor's dependencies are provided,
// without running any of them.
func TestGraphIsComplete(t *testing.T) {
	s, err := settings.Load(func(k string) string {
		if k == "SLIPWAY_ENV" {
			return settings.EnvTest
		}
		return ""
	})
	require.NoError(t, err)
	require.NoError(t, fx.ValidateApp(Options(s)))
}
