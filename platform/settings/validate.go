package settings

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/platform/clientip"
)

// MinTokenSecretBytes is the shortest HMAC key accepted for custom tokens.
const MinTokenSecretBytes = 32

// Validate checks every value and returns the first problem as one line that
// names the setting (by its environment variable where one exists).
func (s *Settings) Validate() error {
	checks := []struct {
		name string
		bad  string // empty when fine
	}{
		{"SLIPWAY_HTTP_ADDR", checkAddr(s.HTTP.Addr)},
		{"http.read_timeout", nonNegative(s.HTTP.ReadTimeout)},
		{"http.write_timeout", nonNegative(s.HTTP.WriteTimeout)},
		{"http.idle_timeout", positive(s.HTTP.IdleTimeout)},
		{"SLIPWAY_HTTP_SHUTDOWN_TIMEOUT", positive(s.HTTP.ShutdownTimeout)},
		{"SLIPWAY_MAX_BODY_BYTES", between(s.HTTP.MaxBodyBytes, 1024, 64<<20)},
		{"http.max_header_bytes", between(s.HTTP.MaxHeaderBytes, 1024, 1<<20)},
		{"SLIPWAY_CORS_ORIGINS", checkOrigins(s.HTTP.CORSOrigins)},
		{"SLIPWAY_TRUSTED_PROXIES", checkProxies(s.HTTP.TrustedProxies)},
		{"SLIPWAY_LOG_LEVEL", oneOf(s.Log.Level, "debug", "info", "warn", "error")},
		{"SLIPWAY_LOG_FORMAT", oneOf(s.Log.Format, "console", "json")},
		{"SLIPWAY_AUTH_MODE", oneOf(s.Auth.Mode, AuthCustom, AuthCognito)},
		{"SLIPWAY_AUTH_TOKEN_SECRET", s.checkSecret()},
		{"SLIPWAY_AUTH_TOKEN_TTL", within(s.Auth.TokenTTL, time.Minute, 30*24*time.Hour)},
		{"auth.issuer", nonEmpty(s.Auth.Issuer)},
		{"auth.audience", nonEmpty(s.Auth.Audience)},
		{"auth.login_limit_per_email", between(s.Auth.LoginLimitPerEmail, 1, 1_000_000)},
		{"auth.login_limit_per_ip", between(s.Auth.LoginLimitPerIP, 1, 1_000_000)},
		{"auth.login_limit_window", within(s.Auth.LoginLimitWindow, time.Second, 24*time.Hour)},
		{"auth.signup_limit_per_ip", between(s.Auth.SignupLimitPerIP, 1, 1_000_000)},
		{"auth.signup_limit_window", within(s.Auth.SignupLimitWindow, time.Second, 24*time.Hour)},
		{"auth.password_memory_kib", between(int(s.Auth.PasswordMemoryKiB), 1024, 1<<20)},
		{"SLIPWAY_AUTH_PASSWORD_MEMORY_BUDGET", s.checkPasswordBudget()},
		{"auth.password_queue_length", between(s.Auth.PasswordQueueLength, 0, 100_000)},
		{"auth.password_queue_wait", within(s.Auth.PasswordQueueWait, 0, time.Minute)},
		{"SLIPWAY_COGNITO_USER_POOL_ID", s.checkCognito()},
		{"SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL", s.checkUnknownKIDInterval()},
		{"SLIPWAY_STORAGE_BACKEND", oneOf(s.Storage.Backend, BackendJSON, BackendPostgres)},
		{"SLIPWAY_DATA_DIR", nonEmpty(s.Storage.DataDir)},
		{"SLIPWAY_DATABASE_URL", s.checkDatabaseURL()},
		{"storage.pool.max_open_conns", between(s.Storage.Pool.MaxOpenConns, 1, 1000)},
		{"storage.pool.max_idle_conns", between(s.Storage.Pool.MaxIdleConns, 0, 1000)},
		{"SLIPWAY_OBJECT_STORE", oneOf(s.Objects.Backend, "local", "s3")},
		{"SLIPWAY_S3_BUCKET", requiredIf(s.Objects.Backend == "s3", s.Objects.S3.Bucket)},
		{"SLIPWAY_S3_ENDPOINT", optionalURL(s.Objects.S3.Endpoint)},
		{"SLIPWAY_QUEUE", s.checkQueue()},
		{"queue.poll_interval", within(s.Queue.PollInterval, 100*time.Millisecond, 10*time.Minute)},
		{"SLIPWAY_SQS_QUEUE_URL", s.checkSQSQueueURL()},
		{"SLIPWAY_SQS_ENDPOINT", optionalURL(s.Queue.SQSEndpoint)},
		{"queue.sqs_wait_time", within(s.Queue.SQSWaitTime, time.Second, 20*time.Second)},
		{"queue.sqs_visibility_timeout", within(s.Queue.SQSVisibilityTimeout, 3*time.Second, 12*time.Hour)},
		{"SLIPWAY_DOCKER_HOST", nonEmpty(s.Docker.Host)},
		{"SLIPWAY_RUN_IMAGE", nonEmpty(s.Runs.Image)},
		{"SLIPWAY_RUN_COMMAND", checkCommand(s.Runs.Command)},
		{"SLIPWAY_RUN_MAX_CONCURRENT", between(s.Runs.MaxConcurrent, 1, 256)},
		{"SLIPWAY_RUN_MAX_ACTIVE_PER_USER", between(s.Runs.MaxActivePerUser, 1, 10_000)},
		{"runs.default_timeout", within(s.Runs.DefaultTimeout, time.Second, s.Runs.MaxTimeout)},
		{"runs.max_timeout", within(s.Runs.MaxTimeout, time.Second, 7*24*time.Hour)},
		{"runs.memory_bytes", between64(s.Runs.MemoryBytes, 16<<20, 1<<40)},
		{"runs.cpus", cpus(s.Runs.CPUs)},
		{"runs.pids_limit", between64(s.Runs.PidsLimit, 8, 1<<20)},
		{"SLIPWAY_RUN_NETWORK", nonEmpty(s.Runs.Network)},
		{"runs.egress.max_open_connections", between(s.Runs.Egress.MaxOpenConnections, 1, 10_000)},
		{"runs.egress.max_connections", between(s.Runs.Egress.MaxConnections, 1, 10_000_000)},
		{"runs.egress.idle_timeout", within(s.Runs.Egress.IdleTimeout, time.Second, 24*time.Hour)},
		{"runs.egress.connect_timeout", within(s.Runs.Egress.ConnectTimeout, 100*time.Millisecond, 5*time.Minute)},
		{"runs.egress.max_bytes", between64(s.Runs.Egress.MaxBytes, 1, 1<<40)},
		{"runs.user", nonEmpty(s.Runs.User)},
		{"runs.max_patch_bytes", between64(s.Runs.MaxPatchBytes, 1024, 1<<30)},
		{"runs.max_tree_depth", between(s.Runs.MaxTreeDepth, 16, 100_000)},
		{"runs.max_tree_entries", between(s.Runs.MaxTreeEntries, 1000, 100_000_000)},
		{"runs.stop_grace", within(s.Runs.StopGrace, 0, time.Minute)},
		{"SLIPWAY_RUN_MAX_WORKSPACE_BYTES", between64(s.Runs.MaxWorkspaceBytes, 16<<20, 1<<40)},
		{"SLIPWAY_RUN_MAX_WORKSPACE_FILES", s.checkWorkspaceFiles()},
		{"SLIPWAY_RUN_WORKSPACE_LIMITS", oneOf(s.Runs.WorkspaceLimits, WorkspaceLimitsAuto, WorkspaceLimitsMount, WorkspaceLimitsScan)},
		{"runs.max_prompt_bytes", between(s.Runs.MaxPromptBytes, 1, MaxPromptBytesCeiling)},
		{"runs.idempotency_ttl", within(s.Runs.IdempotencyTTL, time.Minute, 30*24*time.Hour)},
		{"runs.max_idempotency_keys", between(s.Runs.MaxIdempotencyKeys, 1, 1_000_000)},
		{"SLIPWAY_SECRETS_KEY", s.checkSecretsKey()},
		{"SLIPWAY_SECRETS_OLD_KEYS", checkOldSecretsKeys(s.Secrets.OldKeys)},
		{"SLIPWAY_METRICS_ADDR", s.checkMetricsAddr()},
		{"SLIPWAY_RUN_MAX_LOG_BYTES", between64(s.Runs.MaxLogBytes, 4096, 1<<40)},
		{"SLIPWAY_RUN_MAX_FOLLOWS_PER_USER", between(s.Runs.MaxFollowsPerUser, 1, 10_000)},
		{"SLIPWAY_RUN_MAX_FOLLOWS", between(s.Runs.MaxFollows, 1, 1_000_000)},
	}
	for _, c := range checks {
		if c.bad != "" {
			return fmt.Errorf("setting %s: %s", c.name, c.bad)
		}
	}
	return nil
}

func (s *Settings) checkSecret() string {
	if s.Auth.Mode != AuthCustom {
		return ""
	}
	n := len(s.Auth.TokenSecret)
	switch {
	case n == 0 && s.Env == EnvProduction:
		return "required in production (at least 32 bytes of random data)"
	case n > 0 && n < MinTokenSecretBytes:
		return fmt.Sprintf("is %d bytes, needs at least %d", n, MinTokenSecretBytes)
	}
	return ""
}

// SecretsKeyBytes is the length of a key that encrypts project secrets
// (AES-256).
const SecretsKeyBytes = 32

// DecodeSecretsKey reads a key of SLIPWAY_SECRETS_KEY or
// SLIPWAY_SECRETS_OLD_KEYS: SecretsKeyBytes bytes in standard base64, as
// `openssl rand -base64 32` prints them. Its error never repeats the key.
func DecodeSecretsKey(v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(key) != SecretsKeyBytes {
		return nil, fmt.Errorf("is not %d bytes in base64 (make one with: openssl rand -base64 %d)", SecretsKeyBytes, SecretsKeyBytes)
	}
	return key, nil
}

func (s *Settings) checkSecretsKey() string {
	if s.Secrets.Key == "" {
		if s.Env == EnvProduction {
			return fmt.Sprintf("required in production (%d random bytes in base64: openssl rand -base64 %d)", SecretsKeyBytes, SecretsKeyBytes)
		}
		return ""
	}
	if _, err := DecodeSecretsKey(s.Secrets.Key); err != nil {
		return err.Error()
	}
	return ""
}

func checkOldSecretsKeys(keys []string) string {
	for i, k := range keys {
		if _, err := DecodeSecretsKey(k); err != nil {
			return fmt.Sprintf("key %d of %d %s", i+1, len(keys), err)
		}
	}
	return ""
}

// checkPasswordBudget requires room for at least one hash of the configured
// cost, or no password could ever be checked. A hash counts twice its
// memory: while it runs and as garbage until the next collection.
func (s *Settings) checkPasswordBudget() string {
	one := 2 * int(s.Auth.PasswordMemoryKiB) * 1024
	if s.Auth.PasswordMemoryBudget < one {
		return fmt.Sprintf("%d bytes is less than one hash of auth.password_memory_kib (%d bytes, counted twice)", s.Auth.PasswordMemoryBudget, one)
	}
	return between(s.Auth.PasswordMemoryBudget, one, 1<<40)
}

func (s *Settings) checkCognito() string {
	c := s.Auth.Cognito
	if s.Auth.Mode != AuthCognito {
		return ""
	}
	if c.Issuer == "" && (c.Region == "" || c.UserPoolID == "") {
		return "cognito mode needs SLIPWAY_COGNITO_REGION and SLIPWAY_COGNITO_USER_POOL_ID (or SLIPWAY_COGNITO_ISSUER)"
	}
	if len(c.ClientIDs) == 0 {
		return "cognito mode needs SLIPWAY_COGNITO_CLIENT_IDS"
	}
	if bad := optionalURL(c.Issuer); bad != "" {
		return "SLIPWAY_COGNITO_ISSUER " + bad
	}
	if bad := optionalURL(c.JWKSURL); bad != "" {
		return "SLIPWAY_COGNITO_JWKS_URL " + bad
	}
	if c.RefreshInterval < time.Second || c.FetchTimeout <= 0 || c.Leeway < 0 || c.Leeway > 5*time.Minute {
		return "auth.cognito refresh_interval must be ≥ 1s, fetch_timeout > 0, leeway within 0–5m"
	}
	return ""
}

// checkUnknownKIDInterval keeps the unknown-kid flood limit between one
// second (an attacker's made-up kids may cost one JWKS fetch per interval)
// and refresh_interval (a longer one would only delay new keys).
func (s *Settings) checkUnknownKIDInterval() string {
	c := s.Auth.Cognito
	if s.Auth.Mode != AuthCognito {
		return ""
	}
	if c.UnknownKIDMinInterval < time.Second || c.UnknownKIDMinInterval > c.RefreshInterval {
		return fmt.Sprintf("%s is outside 1s–%s (auth.cognito.refresh_interval)", c.UnknownKIDMinInterval, c.RefreshInterval)
	}
	return ""
}

// checkWorkspaceFiles keeps the file limit at one file per 4 KiB of the
// byte limit at most: more inodes than blocks is no limit, and a workspace
// filesystem could not hold them.
func (s *Settings) checkWorkspaceFiles() string {
	hi := max(s.Runs.MaxWorkspaceBytes/4096, 100)
	if v := s.Runs.MaxWorkspaceFiles; v < 100 || v > hi {
		return fmt.Sprintf("%d is outside 100–%d (one file per 4 KiB of runs.max_workspace_bytes)", v, hi)
	}
	return ""
}

// checkQueue accepts an empty backend (chosen by the records backend) and
// refuses the postgres queue without PostgreSQL records: its queue is the
// runs table.
func (s *Settings) checkQueue() string {
	if s.Queue.Backend == "" {
		return ""
	}
	if bad := oneOf(s.Queue.Backend, QueueLocal, QueuePostgres, QueueSQS); bad != "" {
		return bad
	}
	if s.Queue.Backend == QueuePostgres && s.Storage.Backend != BackendPostgres {
		return "postgres needs SLIPWAY_STORAGE_BACKEND=postgres (its queue is the runs table)"
	}
	return ""
}

func (s *Settings) checkSQSQueueURL() string {
	if s.QueueBackend() != QueueSQS {
		return ""
	}
	if strings.TrimSpace(s.Queue.SQSQueueURL) == "" {
		return "required when SLIPWAY_QUEUE=sqs"
	}
	return optionalURL(s.Queue.SQSQueueURL)
}

func (s *Settings) checkDatabaseURL() string {
	if s.Storage.Backend != BackendPostgres {
		return ""
	}
	if s.Storage.DatabaseURL == "" {
		return "required when SLIPWAY_STORAGE_BACKEND=postgres"
	}
	u, err := url.Parse(s.Storage.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "must be a postgres://user@host:port/db URL" // never echo the value: it may hold a password
	}
	return ""
}

func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Sprintf("%q: host must be an IP address or localhost", addr)
	}
	if port == "" {
		return fmt.Sprintf("%q has no port", addr)
	}
	return ""
}

// checkMetricsAddr allows an empty address (metrics off) and refuses the
// public listener's own: /metrics must never be served to API clients.
func (s *Settings) checkMetricsAddr() string {
	addr := s.Metrics.Addr
	if addr == "" {
		return ""
	}
	if bad := checkAddr(addr); bad != "" {
		return bad
	}
	_, port, _ := net.SplitHostPort(addr)
	if port != "0" && sameListener(addr, s.HTTP.Addr) {
		return fmt.Sprintf("%q is SLIPWAY_HTTP_ADDR's port; metrics need a listener of their own", addr)
	}
	return ""
}

// sameListener reports whether two host:port addresses would clash: the same
// port on the same host, or on a wildcard host.
func sameListener(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ah == bh || wild(ah) || wild(bh)
}

func checkOrigins(origins []string) string {
	for _, o := range origins {
		if o == "*" {
			return "the wildcard * is not allowed; list the origins (credentials are allowed)"
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Sprintf("%q is not an origin such as https://app.example.com", o)
		}
	}
	return ""
}

func checkProxies(list []string) string {
	if _, err := clientip.ParseTrusted(list); err != nil {
		return err.Error()
	}
	return ""
}

func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func nonEmpty(v string) string {
	if strings.TrimSpace(v) == "" {
		return "must not be empty"
	}
	return ""
}

func requiredIf(cond bool, v string) string {
	if cond && strings.TrimSpace(v) == "" {
		return "required for the chosen backend"
	}
	return ""
}

func optionalURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http(s) URL", v)
	}
	return ""
}

func between(v, lo, hi int) string {
	if v < lo || v > hi {
		return fmt.Sprintf("%d is outside %d–%d", v, lo, hi)
	}
	return ""
}

func between64(v, lo, hi int64) string {
	if v < lo || v > hi {
		return fmt.Sprintf("%d is outside %d–%d", v, lo, hi)
	}
	return ""
}

func within(d, lo, hi time.Duration) string {
	if d < lo || d > hi {
		return fmt.Sprintf("%s is outside %s–%s", d, lo, hi)
	}
	return ""
}

func positive(d time.Duration) string {
	if d <= 0 {
		return fmt.Sprintf("%s must be positive", d)
	}
	return ""
}

func nonNegative(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("%s must not be negative", d)
	}
	return ""
}

func cpus(v float64) string {
	if v < 0.01 || v > 256 {
		return fmt.Sprintf("%g is outside 0.01–256", v)
	}
	return ""
}
