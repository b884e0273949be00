// Package logging builds the zap logger: JSON lines in production, readable
// console lines locally. A redacting core drops the value of any field whose
// key names a secret, so a careless log call cannot leak a token or password.
package logging

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slipwayhq/slipway/platform/settings"
)

// Module provides *zap.Logger.
var Module = fx.Module("logging", fx.Provide(New))

// FxLogger routes fx's own events through zap. It must be given at the top
// level of the app (fx.WithLogger inside a module covers only that module).
var FxLogger = fx.WithLogger(func(log *zap.Logger) fxevent.Logger {
	l := &fxevent.ZapLogger{Logger: log.Named("fx")}
	l.UseLogLevel(zapcore.DebugLevel) // fx's wiring chatter is debug detail
	return quietFailures{l}
})

// quietFailures drops fx's multi-line reports of a failed start: the command
// prints the root cause as one line instead.
type quietFailures struct{ fxevent.Logger }

func (q quietFailures) LogEvent(e fxevent.Event) {
	switch e.(type) {
	case *fxevent.RollingBack, *fxevent.RolledBack:
		return
	}
	// Every fx event that reports a failure carries it in a field named Err.
	if v := reflect.Indirect(reflect.ValueOf(e)); v.Kind() == reflect.Struct {
		if f := v.FieldByName("Err"); f.IsValid() && !f.IsNil() {
			return
		}
	}
	q.Logger.LogEvent(e)
}

// New builds the logger for the given settings.
func New(lc fx.Lifecycle, s *settings.Settings) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(s.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("setting SLIPWAY_LOG_LEVEL: %w", err)
	}
	var enc zapcore.Encoder
	if s.Log.Format == "json" {
		cfg := zap.NewProductionEncoderConfig()
		cfg.TimeKey = "ts"
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	// Buffered: one write per 256 KiB or 250 ms instead of one syscall per
	// line, which on the access log costs a quarter of a request. Stop flushes.
	// stderr is wrapped so Stop does not fsync it: on a pipe that fails
	// with EINVAL and would turn a clean stop into exit status 1.
	stderr := zapcore.AddSync(struct{ io.Writer }{os.Stderr})
	out := &zapcore.BufferedWriteSyncer{WS: stderr, Size: 256 << 10, FlushInterval: 250 * time.Millisecond}
	lc.Append(fx.StopHook(out.Stop))
	core := zapcore.NewCore(enc, out, level)
	return zap.New(Redact(core), zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel)).
		With(zap.String("env", s.Env)), nil
}

// Redact wraps core so fields whose key names a secret carry "[redacted]".
// core should be one destination, not a Tee: the wrapper accepts an entry
// when core is enabled for its level and then writes it to all of core, so
// around a Tee every member would get every entry any member wants. Use
// RedactEach for several destinations.
func Redact(core zapcore.Core) zapcore.Core { return &redactCore{core, &keyVerdicts{}} }

// RedactEach redacts each core on its own and tees them, so each keeps its
// own level: a core set to warnings gets no info entry because another core
// of the tee records everything.
func RedactEach(cores ...zapcore.Core) zapcore.Core {
	verdicts := &keyVerdicts{}
	out := make([]zapcore.Core, len(cores))
	for i, c := range cores {
		out[i] = &redactCore{c, verdicts}
	}
	return zapcore.NewTee(out...)
}

// redactCore is used by pointer: Check hands the core to the entry as an
// interface, and a struct value there is an allocation on every log line.
type redactCore struct {
	zapcore.Core
	verdicts *keyVerdicts
}

// keyVerdicts remembers whether each field key is a secret. Keys come from
// code, not from requests, so the set stays small; checking substrings of
// every key of every line cost as much as encoding the access line.
type keyVerdicts struct{ m sync.Map }

func (v *keyVerdicts) secret(key string) bool {
	if got, ok := v.m.Load(key); ok {
		return got.(bool)
	}
	verdict := IsSecretKey(key)
	v.m.Store(key, verdict)
	return verdict
}

func (c *redactCore) With(fields []zapcore.Field) zapcore.Core {
	return &redactCore{c.Core.With(c.redactFields(fields)), c.verdicts}
}

func (c *redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *redactCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, c.redactFields(fields))
}

// secretKeys are substrings of field keys whose values never reach a log line.
var secretKeys = []string{"password", "secret", "token", "authorization", "cookie", "database_url", "dsn", "credential"}

// IsSecretKey reports whether a field or header named key holds a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func (c *redactCore) redactFields(fields []zapcore.Field) []zapcore.Field {
	for i := range fields {
		if c.verdicts.secret(fields[i].Key) {
			// Copy on first hit so the caller's slice stays untouched.
			out := make([]zapcore.Field, len(fields))
			copy(out, fields)
			for j := i; j < len(out); j++ {
				if c.verdicts.secret(out[j].Key) {
					out[j] = zap.String(out[j].Key, "[redacted]")
				}
			}
			return out
		}
	}
	return fields
}
