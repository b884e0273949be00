package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/settings"
)

// secretFile is where a generated local token key lives inside the data dir.
const secretFile = "token_secret"

// TokenSecret returns the configured HMAC key or, outside production when none
// is set, one generated once and kept in the data dir so tokens survive a
// restart. Settings validation already refused a missing key in production.
func TokenSecret(s *settings.Settings, log *zap.Logger) ([]byte, error) {
	if s.Auth.TokenSecret != "" {
		return []byte(s.Auth.TokenSecret), nil
	}
	if s.Env == settings.EnvProduction {
		return nil, errors.New("setting SLIPWAY_AUTH_TOKEN_SECRET: required in production")
	}
	path := filepath.Join(s.Storage.DataDir, secretFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(raw))
		if len(key) < settings.MinTokenSecretBytes {
			return nil, fmt.Errorf("token secret file %s: shorter than %d bytes", path, settings.MinTokenSecretBytes)
		}
		return []byte(key), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read token secret %s: %w", path, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("generate token secret: %w", err)
	}
	key := hex.EncodeToString(buf)
	if err := os.MkdirAll(s.Storage.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", s.Storage.DataDir, err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write token secret %s: %w", path, err)
	}
	log.Warn("SLIPWAY_AUTH_TOKEN_SECRET is not set: generated a local token key; set it explicitly outside development",
		zap.String("file", path))
	return []byte(key), nil
}
