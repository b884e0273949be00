package logging

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedactsSecretFields(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(Redact(core)).With(zap.String("database_url", "postgres://u:pw@h/db"))
	fields := []zap.Field{
		zap.String("password", "hunter2"),
		zap.String("Authorization", "Bearer abc"),
		zap.String("access_token", "eyJ"),
		zap.String("user_id", "usr_1"),
	}
	log.Info("x", fields...)
	got := logs.All()[0].ContextMap()
	require.Equal(t, "[redacted]", got["password"])
	require.Equal(t, "[redacted]", got["Authorization"])
	require.Equal(t, "[redacted]", got["access_token"])
	require.Equal(t, "[redacted]", got["database_url"], "fields added with With are redacted too")
	require.Equal(t, "usr_1", got["user_id"])
	require.Equal(t, "hunter2", fields[0].String, "the caller's fields are not modified")
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"password", "token_secret", "Cookie", "SLIPWAY_DATABASE_URL", "aws_credentials"} {
		require.True(t, IsSecretKey(k), k)
	}
	for _, k := range []string{"user_id", "request_id", "path", "status"} {
		require.False(t, IsSecretKey(k), k)
	}
}
