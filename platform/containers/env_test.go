package containers

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReservedEnv(t *testing.T) {
	for _, name := range []string{
		"SLIPWAY_PROMPT", "SLIPWAY_ANYTHING", "slipway_prompt", "PATH", "path", "HOME", "Home",
		"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
		"LD_PRELOAD", "LD_LIBRARY_PATH", "ld_preload", "SHELL", "USER", "TMPDIR", "BASH_ENV", "ENV", "IFS",
	} {
		require.True(t, ReservedEnv(name), name)
	}
	for _, name := range []string{"OPENAI_API_KEY", "GITHUB_TOKEN", "PATHS", "MY_PATH", "HOMEPAGE", "SLIPWAY", "LD", "PROXY", "HTTP_PROXY_URL_X"} {
		require.False(t, ReservedEnv(name), name)
	}
}
