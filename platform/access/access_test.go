package access

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestSecretHidesItsValue prints a Secret every way a log call or an
// error message might: none shows the value.
func TestSecretHidesItsValue(t *testing.T) {
	s := Secret{Name: "API_KEY", Value: "sk-live-123"}
	raw, err := json.Marshal(s)
	require.NoError(t, err)
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("x", zap.Any("secret", s), zap.Any("list", []Secret{s}), zap.Stringer("s", s))
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint([]Secret{s}), string(raw),
		fmt.Sprint(logs.All()[0].ContextMap())} {
		require.NotContains(t, out, "sk-live-123")
		require.Contains(t, out, "API_KEY")
	}
}
