package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayhq/slipway/configs"
)

// Load layers default.yaml, $SLIPWAY_ENV.yaml and the SLIPWAY_* variables read
// through getenv, then validates the result. Every error is one line naming
// the setting.
func Load(getenv func(string) string) (*Settings, error) {
	env := strings.TrimSpace(getenv("SLIPWAY_ENV"))
	if env == "" {
		env = EnvLocal
	}
	switch env {
	case EnvLocal, EnvTest, EnvProduction:
	default:
		return nil, fmt.Errorf("setting SLIPWAY_ENV: %q is not one of local, test, production", env)
	}
	s := &Settings{Env: env}
	if err := decodeFile(s, "default.yaml"); err != nil {
		return nil, err
	}
	if err := decodeFile(s, env+".yaml"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, b := range bindings(s) {
		v, ok := lookup(getenv, b.name)
		if !ok {
			continue
		}
		if err := b.set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", b.name, err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func decodeFile(s *Settings, name string) error {
	raw, err := fs.ReadFile(configs.Files, name)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt key is an error, not a silently ignored line
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("settings file configs/%s: %s", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// binding ties one environment variable to the field it overrides.
type binding struct {
	name string
	set  func(string) error
}

// EnvNames lists every environment variable Load reads, for docs and tests.
func EnvNames() []string {
	var names []string
	for _, b := range bindings(&Settings{}) {
		names = append(names, b.name)
	}
	return names
}

func bindings(s *Settings) []binding {
	return []binding{
		{"SLIPWAY_HTTP_ADDR", str(&s.HTTP.Addr)},
		{"SLIPWAY_HTTP_SHUTDOWN_TIMEOUT", dur(&s.HTTP.ShutdownTimeout)},
		{"SLIPWAY_MAX_BODY_BYTES", integer(&s.HTTP.MaxBodyBytes)},
		{"SLIPWAY_CORS_ORIGINS", list(&s.HTTP.CORSOrigins)},
		{"SLIPWAY_TRUSTED_PROXIES", list(&s.HTTP.TrustedProxies)},
		{"SLIPWAY_LOG_LEVEL", str(&s.Log.Level)},
		{"SLIPWAY_LOG_FORMAT", str(&s.Log.Format)},
		{"SLIPWAY_AUTH_MODE", str(&s.Auth.Mode)},
		{"SLIPWAY_AUTH_TOKEN_SECRET", str(&s.Auth.TokenSecret)},
		{"SLIPWAY_AUTH_TOKEN_TTL", dur(&s.Auth.TokenTTL)},
		{"SLIPWAY_AUTH_SIGNUP_ENABLED", boolean(&s.Auth.SignupEnabled)},
		{"SLIPWAY_AUTH_PASSWORD_MEMORY_BUDGET", integer(&s.Auth.PasswordMemoryBudget)},
		{"SLIPWAY_COGNITO_REGION", str(&s.Auth.Cognito.Region)},
		{"SLIPWAY_COGNITO_USER_POOL_ID", str(&s.Auth.Cognito.UserPoolID)},
		{"SLIPWAY_COGNITO_CLIENT_IDS", list(&s.Auth.Cognito.ClientIDs)},
		{"SLIPWAY_COGNITO_ISSUER", str(&s.Auth.Cognito.Issuer)},
		{"SLIPWAY_COGNITO_JWKS_URL", str(&s.Auth.Cognito.JWKSURL)},
		{"SLIPWAY_COGNITO_ACCEPT_ID_TOKENS", boolean(&s.Auth.Cognito.AcceptIDTokens)},
		{"SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL", dur(&s.Auth.Cognito.UnknownKIDMinInterval)},
		{"SLIPWAY_STORAGE_BACKEND", str(&s.Storage.Backend)},
		{"SLIPWAY_DATA_DIR", str(&s.Storage.DataDir)},
		{"SLIPWAY_DATABASE_URL", str(&s.Storage.DatabaseURL)},
		{"SLIPWAY_AUTO_MIGRATE", boolean(&s.Storage.AutoMigrate)},
		{"SLIPWAY_OBJECT_STORE", str(&s.Objects.Backend)},
		{"SLIPWAY_S3_BUCKET", str(&s.Objects.S3.Bucket)},
		{"SLIPWAY_S3_ENDPOINT", str(&s.Objects.S3.Endpoint)},
		{"SLIPWAY_S3_REGION", str(&s.Objects.S3.Region)},
		{"SLIPWAY_QUEUE", str(&s.Queue.Backend)},
		{"SLIPWAY_SQS_QUEUE_URL", str(&s.Queue.SQSQueueURL)},
		{"SLIPWAY_SQS_ENDPOINT", str(&s.Queue.SQSEndpoint)},
		{"SLIPWAY_SQS_REGION", str(&s.Queue.SQSRegion)},
		{"SLIPWAY_DOCKER_HOST", str(&s.Docker.Host)},
		{"SLIPWAY_RUN_EXECUTE", boolean(&s.Runs.Execute)},
		{"SLIPWAY_RUN_IMAGE", str(&s.Runs.Image)},
		{"SLIPWAY_RUN_COMMAND", command(&s.Runs.Command)},
		{"SLIPWAY_RUN_MAX_CONCURRENT", integer(&s.Runs.MaxConcurrent)},
		{"SLIPWAY_RUN_MAX_ACTIVE_PER_USER", integer(&s.Runs.MaxActivePerUser)},
		{"SLIPWAY_RUN_MAX_LOG_BYTES", integer64(&s.Runs.MaxLogBytes)},
		{"SLIPWAY_RUN_MAX_FOLLOWS_PER_USER", integer(&s.Runs.MaxFollowsPerUser)},
		{"SLIPWAY_RUN_MAX_FOLLOWS", integer(&s.Runs.MaxFollows)},
		{"SLIPWAY_RUN_NETWORK", str(&s.Runs.Network)},
		{"SLIPWAY_RUN_ALLOW_FILE_URLS", boolean(&s.Runs.AllowFileURLs)},
		{"SLIPWAY_RUN_ALLOW_PRIVATE_HOSTS", boolean(&s.Runs.AllowPrivateHosts)},
		{"SLIPWAY_RUN_WORKSPACE_DIR", str(&s.Runs.WorkspaceDir)},
		{"SLIPWAY_RUN_WORKSPACE_LIMITS", str(&s.Runs.WorkspaceLimits)},
		{"SLIPWAY_RUN_MAX_WORKSPACE_BYTES", integer64(&s.Runs.MaxWorkspaceBytes)},
		{"SLIPWAY_RUN_MAX_WORKSPACE_FILES", integer64(&s.Runs.MaxWorkspaceFiles)},
		{"SLIPWAY_SECRETS_KEY", str(&s.Secrets.Key)},
		{"SLIPWAY_SECRETS_OLD_KEYS", list(&s.Secrets.OldKeys)},
		{"SLIPWAY_RUN_EGRESS_ALLOW", list(&s.Runs.Egress.Allow)},
		{"SLIPWAY_RUN_EGRESS_NETWORK", str(&s.Runs.Egress.Network)},
		{"SLIPWAY_RUN_EGRESS_PROXY_BINARY", str(&s.Runs.Egress.ProxyBinary)},
		{"SLIPWAY_METRICS_ADDR", str(&s.Metrics.Addr)},
	}
}

func str(p *string) func(string) error {
	return func(v string) error { *p = strings.TrimSpace(v); return nil }
}

func integer(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
		return nil
	}
}

func integer64(p *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
		return nil
	}
}

func boolean(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", v)
		}
		*p = b
		return nil
	}
}

func dur(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 12h", v)
		}
		*p = d
		return nil
	}
}

// list parses a comma list, dropping empty items.
func list(p *[]string) func(string) error {
	return func(v string) error {
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*p = out
		return nil
	}
}

// command parses the agent's argv (see parseCommand).
func command(p *[]string) func(string) error {
	return func(v string) error {
		argv, err := parseCommand(v)
		if err != nil {
			return err
		}
		*p = argv
		return nil
	}
}
