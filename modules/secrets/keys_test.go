package secrets

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slipwayhq/slipway/platform/settings"
)

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// TestLocalKeyIsGeneratedOnce: without SLIPWAY_SECRETS_KEY outside
// production a key is generated into the data dir with a warning, and the
// next start reads the same key, so what was sealed still opens.
func TestLocalKeyIsGeneratedOnce(t *testing.T) {
	s := &settings.Settings{Env: settings.EnvLocal, Storage: settings.Storage{DataDir: filepath.Join(t.TempDir(), "data")}}
	log, logs := observed()
	first, err := LoadKeyring(s, log)
	require.NoError(t, err)
	require.Equal(t, 1, logs.FilterMessageSnippet("SLIPWAY_SECRETS_KEY is not set").Len())
	path := filepath.Join(s.Storage.DataDir, keyFile)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	key, err := base64.StdEncoding.DecodeString(string(raw[:len(raw)-1]))
	require.NoError(t, err)
	require.Len(t, key, 32)
	for _, e := range logs.All() {
		require.NotContains(t, e.ContextMap(), string(raw[:len(raw)-1]), "the key itself is never logged")
	}

	id, ct, err := first.seal("prj_a", "KEY", []byte("value"))
	require.NoError(t, err)
	log, logs = observed()
	second, err := LoadKeyring(s, log)
	require.NoError(t, err)
	require.Zero(t, logs.Len(), "an existing key is read quietly")
	got, err := second.open(id, "prj_a", "KEY", ct)
	require.NoError(t, err)
	require.Equal(t, "value", string(got))

	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	_, err = LoadKeyring(s, zap.NewNop())
	require.ErrorContains(t, err, "is not 32 bytes in base64")
	require.NotContains(t, err.Error(), "short")
}

func TestProductionNeedsAKey(t *testing.T) {
	s := &settings.Settings{Env: settings.EnvProduction, Storage: settings.Storage{DataDir: t.TempDir()}}
	_, err := LoadKeyring(s, zap.NewNop())
	require.EqualError(t, err, "setting SLIPWAY_SECRETS_KEY: required in production")
	require.NoFileExists(t, filepath.Join(s.Storage.DataDir, keyFile), "nothing is generated in production")
}

// TestConfiguredKeyAndAGeneratedOne: setting a key where one was generated
// earlier warns until the generated key is among the old keys, with which
// what it sealed opens.
func TestConfiguredKeyAndAGeneratedOne(t *testing.T) {
	s := &settings.Settings{Env: settings.EnvLocal, Storage: settings.Storage{DataDir: t.TempDir()}}
	generated, err := LoadKeyring(s, zap.NewNop())
	require.NoError(t, err)
	id, ct, err := generated.seal("prj_a", "KEY", []byte("value"))
	require.NoError(t, err)

	s.Secrets.Key = base64.StdEncoding.EncodeToString(key(7))
	log, logs := observed()
	k, err := LoadKeyring(s, log)
	require.NoError(t, err)
	require.Equal(t, 1, logs.FilterMessageSnippet("SLIPWAY_SECRETS_OLD_KEYS").Len())
	_, err = k.open(id, "prj_a", "KEY", ct)
	require.ErrorIs(t, err, ErrUnknownKey)

	raw, err := os.ReadFile(filepath.Join(s.Storage.DataDir, keyFile))
	require.NoError(t, err)
	s.Secrets.OldKeys = []string{string(raw)}
	log, logs = observed()
	k, err = LoadKeyring(s, log)
	require.NoError(t, err)
	require.Zero(t, logs.Len())
	got, err := k.open(id, "prj_a", "KEY", ct)
	require.NoError(t, err)
	require.Equal(t, "value", string(got))
	newID, _, err := k.seal("prj_a", "KEY", []byte("value"))
	require.NoError(t, err)
	require.Equal(t, keyID(key(7)), newID, "the configured key seals")
}
