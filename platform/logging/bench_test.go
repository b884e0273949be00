package logging

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The access line is written on every request: BenchmarkAccessLine is its
// cost through the redacting core, BenchmarkAccessLineUnredacted without it.
func BenchmarkAccessLine(b *testing.B) { benchAccessLine(b, Redact) }
func BenchmarkAccessLineUnredacted(b *testing.B) {
	benchAccessLine(b, func(c zapcore.Core) zapcore.Core { return c })
}

func benchAccessLine(b *testing.B, wrap func(zapcore.Core) zapcore.Core) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(wrap(zapcore.NewCore(enc, zapcore.AddSync(discard{}), zapcore.InfoLevel)))
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request", zap.String("request_id", "abc"), zap.String("method", "GET"),
			zap.String("route", "/v1/projects/:project_id"), zap.String("path", "/v1/projects/prj_x"),
			zap.Int("status", 200), zap.Int("bytes", 100), zap.String("remote", "127.0.0.1"), zap.String("user_id", "usr_x"))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
