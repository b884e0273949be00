package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/settings"
)

// keyFile is where a generated local key lives inside the data dir.
const keyFile = "secrets_key"

// LoadKeyring builds the keyring of the settings: SLIPWAY_SECRETS_KEY to
// seal and open, SLIPWAY_SECRETS_OLD_KEYS to open. Outside production,
// without a key, one is generated once into the data dir (as auth does for
// its token key) so secrets survive a restart; settings validation already
// refused a missing key in production.
func LoadKeyring(s *settings.Settings, log *zap.Logger) (*Keyring, error) {
	var old [][]byte
	for i, v := range s.Secrets.OldKeys {
		key, err := settings.DecodeSecretsKey(v)
		if err != nil {
			return nil, fmt.Errorf("setting SLIPWAY_SECRETS_OLD_KEYS: key %d %w", i+1, err)
		}
		old = append(old, key)
	}
	path := filepath.Join(s.Storage.DataDir, keyFile)
	if s.Secrets.Key != "" {
		key, err := settings.DecodeSecretsKey(s.Secrets.Key)
		if err != nil {
			return nil, fmt.Errorf("setting SLIPWAY_SECRETS_KEY: %w", err)
		}
		k, err := NewKeyring(key, old...)
		if err == nil {
			warnOrphanedKey(k, path, log)
		}
		return k, err
	}
	if s.Env == settings.EnvProduction {
		return nil, errors.New("setting SLIPWAY_SECRETS_KEY: required in production")
	}
	key, err := localKey(path, log)
	if err != nil {
		return nil, err
	}
	return NewKeyring(key, old...)
}

// localKey reads the generated key, or generates it.
func localKey(path string, log *zap.Logger) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err := settings.DecodeSecretsKey(string(raw))
		if err != nil {
			return nil, fmt.Errorf("secrets key file %s %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secrets key %s: %w", path, err)
	}
	key := make([]byte, settings.SecretsKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secrets key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", filepath.Dir(path), err)
	}
	// O_EXCL: two processes starting on one data dir keep one key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return localKey(path, log)
	}
	if err != nil {
		return nil, fmt.Errorf("write secrets key %s: %w", path, err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write secrets key %s: %w", path, err)
	}
	log.Warn("SLIPWAY_SECRETS_KEY is not set: generated a local key for project secrets; set it explicitly outside development",
		zap.String("file", path))
	return key, nil
}

// warnOrphanedKey says when a key generated earlier into the data dir is
// no longer configured: the secrets written under it no longer open until
// it is added to SLIPWAY_SECRETS_OLD_KEYS.
func warnOrphanedKey(k *Keyring, path string, log *zap.Logger) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return
	}
	key, err := settings.DecodeSecretsKey(string(raw))
	if err != nil {
		return
	}
	if _, ok := k.aeads[keyID(key)]; !ok {
		log.Warn("a secrets key generated earlier is not configured: secrets written under it cannot be decrypted; add that file's content to SLIPWAY_SECRETS_OLD_KEYS",
			zap.String("file", path))
	}
}
