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

// TestRedactEachKeepsEachCoresLevel: an entry below a core's level never
// reaches that core, even when another core of the tee takes every level.
func TestRedactEachKeepsEachCoresLevel(t *testing.T) {
	warn, warnLogs := observer.New(zapcore.WarnLevel)
	all, allLogs := observer.New(zapcore.DebugLevel)
	log := zap.New(RedactEach(warn, all))

	log.Info("access line", zap.String("token", "eyJ"))
	log.Warn("something odd", zap.String("password", "hunter2"))

	require.Equal(t, []string{"something odd"}, messages(warnLogs), "the warn core gets no info entry")
	require.Equal(t, []string{"access line", "something odd"}, messages(allLogs))
	require.Equal(t, "[redacted]", warnLogs.All()[0].ContextMap()["password"])
	require.Equal(t, "[redacted]", allLogs.All()[0].ContextMap()["token"])
	require.Equal(t, "[redacted]", allLogs.All()[1].ContextMap()["password"])
}

// TestRedactBelowLevelGetsNothing: a redacted core below its level gets
// nothing written.
func TestRedactBelowLevelGetsNothing(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	log := zap.New(Redact(core)).With(zap.String("secret", "s"))
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	require.Zero(t, logs.Len())
	log.Error("e")
	require.Equal(t, []string{"e"}, messages(logs))
}

func messages(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		out = append(out, e.Message)
	}
	return out
}
