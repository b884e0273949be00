package settings

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testSecretsKey is 32 bytes in base64.
const testSecretsKey = "c2xpcHdheS10ZXN0LXNlY3JldHMta2V5LTMyYnl0ZXM="

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLayers(t *testing.T) {
	s, err := Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, EnvLocal, s.Env)
	require.Equal(t, "127.0.0.1:8080", s.HTTP.Addr, "default.yaml")
	require.True(t, s.Runs.AllowFileURLs, "local.yaml layers on default.yaml")

	s, err = Load(env(map[string]string{"SLIPWAY_ENV": "test"}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", s.HTTP.Addr, "test.yaml")

	s, err = Load(env(map[string]string{
		"SLIPWAY_ENV": "test", "SLIPWAY_HTTP_ADDR": "127.0.0.1:9999", "SLIPWAY_CORS_ORIGINS": " https://a.example.com, ,https://b.example.com",
		"SLIPWAY_AUTH_TOKEN_TTL": "2h", "SLIPWAY_RUN_EXECUTE": "false", "SLIPWAY_RUN_COMMAND": "agent run  $SLIPWAY_PROMPT",
	}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9999", s.HTTP.Addr, "variables win")
	require.Equal(t, []string{"https://a.example.com", "https://b.example.com"}, s.HTTP.CORSOrigins)
	require.Equal(t, 2*time.Hour, s.Auth.TokenTTL)
	require.False(t, s.Runs.Execute)
	require.Equal(t, []string{"agent", "run", "$SLIPWAY_PROMPT"}, s.Runs.Command)
}

func TestProductionNeedsItsSecrets(t *testing.T) {
	_, err := Load(env(map[string]string{"SLIPWAY_ENV": "production", "SLIPWAY_S3_BUCKET": "b",
		"SLIPWAY_DATABASE_URL": "postgres://u@db:5432/x"}))
	require.EqualError(t, err, "setting SLIPWAY_AUTH_TOKEN_SECRET: required in production (at least 32 bytes of random data)")

	_, err = Load(env(map[string]string{"SLIPWAY_ENV": "production", "SLIPWAY_S3_BUCKET": "b",
		"SLIPWAY_AUTH_TOKEN_SECRET": strings.Repeat("k", 32)}))
	require.EqualError(t, err, "setting SLIPWAY_DATABASE_URL: required when SLIPWAY_STORAGE_BACKEND=postgres")

	_, err = Load(env(map[string]string{"SLIPWAY_ENV": "production", "SLIPWAY_S3_BUCKET": "b",
		"SLIPWAY_AUTH_TOKEN_SECRET": strings.Repeat("k", 32), "SLIPWAY_DATABASE_URL": "postgres://u:pw@db:5432/x"}))
	require.EqualError(t, err, "setting SLIPWAY_SECRETS_KEY: required in production (32 random bytes in base64: openssl rand -base64 32)")

	s, err := Load(env(map[string]string{"SLIPWAY_ENV": "production", "SLIPWAY_S3_BUCKET": "b",
		"SLIPWAY_AUTH_TOKEN_SECRET": strings.Repeat("k", 32), "SLIPWAY_DATABASE_URL": "postgres://u:pw@db:5432/x",
		"SLIPWAY_SECRETS_KEY": testSecretsKey}))
	require.NoError(t, err)
	require.Equal(t, "json", s.Log.Format)
	require.False(t, s.Storage.AutoMigrate)
	require.Equal(t, NetworkAllowlist, s.Runs.Network, "agents reach only the allowlist in production")
	require.False(t, s.Runs.AllowPrivateHosts)
	require.Equal(t, []string{"api.openai.com:443"}, s.Runs.Egress.Allow)

	s, err = Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, NetworkNone, s.Runs.Network, "locally runs have no network unless asked")
}

func TestEveryBadValueIsOneLineNamingTheSetting(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"SLIPWAY_ENV":                  {"SLIPWAY_ENV": "staging"},
		"SLIPWAY_MAX_BODY_BYTES":       {"SLIPWAY_MAX_BODY_BYTES": "1e9"},
		"SLIPWAY_AUTH_MODE":            {"SLIPWAY_AUTH_MODE": "ldap"},
		"SLIPWAY_AUTH_TOKEN_SECRET":    {"SLIPWAY_AUTH_TOKEN_SECRET": "short"},
		"SLIPWAY_AUTH_TOKEN_TTL":       {"SLIPWAY_AUTH_TOKEN_TTL": "forever"},
		"SLIPWAY_CORS_ORIGINS":         {"SLIPWAY_CORS_ORIGINS": "*"},
		"SLIPWAY_TRUSTED_PROXIES":      {"SLIPWAY_TRUSTED_PROXIES": "10.0.0.0/8,lb.internal"},
		"SLIPWAY_HTTP_ADDR":            {"SLIPWAY_HTTP_ADDR": "example.com:80"},
		"SLIPWAY_STORAGE_BACKEND":      {"SLIPWAY_STORAGE_BACKEND": "mysql"},
		"SLIPWAY_DATABASE_URL":         {"SLIPWAY_STORAGE_BACKEND": "postgres", "SLIPWAY_DATABASE_URL": "mysql://x"},
		"SLIPWAY_OBJECT_STORE":         {"SLIPWAY_OBJECT_STORE": "ftp"},
		"SLIPWAY_S3_BUCKET":            {"SLIPWAY_OBJECT_STORE": "s3"},
		"SLIPWAY_RUN_MAX_CONCURRENT":   {"SLIPWAY_RUN_MAX_CONCURRENT": "0"},
		"SLIPWAY_RUN_EXECUTE":          {"SLIPWAY_RUN_EXECUTE": "maybe"},
		"SLIPWAY_COGNITO_USER_POOL_ID": {"SLIPWAY_AUTH_MODE": "cognito"},
		"SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL": {"SLIPWAY_AUTH_MODE": "cognito", "SLIPWAY_COGNITO_REGION": "eu-west-1",
			"SLIPWAY_COGNITO_USER_POOL_ID": "eu-west-1_Pool1", "SLIPWAY_COGNITO_CLIENT_IDS": "web",
			"SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL": "10m"},
		"SLIPWAY_LOG_LEVEL":               {"SLIPWAY_LOG_LEVEL": "loud"},
		"SLIPWAY_RUN_MAX_WORKSPACE_BYTES": {"SLIPWAY_RUN_MAX_WORKSPACE_BYTES": "1048576"},
		"SLIPWAY_RUN_MAX_WORKSPACE_FILES": {"SLIPWAY_RUN_MAX_WORKSPACE_BYTES": "67108864", "SLIPWAY_RUN_MAX_WORKSPACE_FILES": "20000"},
		"SLIPWAY_RUN_WORKSPACE_LIMITS":    {"SLIPWAY_RUN_WORKSPACE_LIMITS": "quota"},
		"SLIPWAY_SECRETS_KEY":             {"SLIPWAY_SECRETS_KEY": "c2hvcnQ="},
		"SLIPWAY_SECRETS_OLD_KEYS":        {"SLIPWAY_SECRETS_OLD_KEYS": testSecretsKey + ",not base64!"},
		"SLIPWAY_METRICS_ADDR":            {"SLIPWAY_METRICS_ADDR": "9090"},
		"SLIPWAY_QUEUE":                   {"SLIPWAY_QUEUE": "kafka"},
		"SLIPWAY_SQS_QUEUE_URL":           {"SLIPWAY_QUEUE": "sqs"},
		"SLIPWAY_SQS_ENDPOINT": {"SLIPWAY_QUEUE": "sqs", "SLIPWAY_SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
			"SLIPWAY_SQS_ENDPOINT": "localhost:4566"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(kv))
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n")
			require.True(t, strings.HasPrefix(err.Error(), "setting "+name+":"), err.Error())
		})
	}
	_, err := Load(env(map[string]string{"SLIPWAY_STORAGE_BACKEND": "postgres", "SLIPWAY_DATABASE_URL": "mysql://user:hunter2@x"}))
	require.NotContains(t, err.Error(), "hunter2", "a database URL is never echoed")
}

// TestEnvNamesAreDocumented fails when a variable Load reads is missing
// from README.md's configuration table.
func TestEnvNamesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	names := EnvNames()
	require.Contains(t, names, "SLIPWAY_HTTP_ADDR")
	for _, n := range names {
		require.True(t, strings.HasPrefix(n, "SLIPWAY_"), n)
		require.True(t, strings.Contains(string(readme), "`"+n+"`"), "README.md does not document %s", n)
	}
}

func TestMetricsAddr(t *testing.T) {
	s, err := Load(env(nil))
	require.NoError(t, err)
	require.Empty(t, s.Metrics.Addr, "metrics are off by default")
	for _, ok := range []map[string]string{
		{"SLIPWAY_METRICS_ADDR": "127.0.0.1:9090"},
		{"SLIPWAY_METRICS_ADDR": "0.0.0.0:9090", "SLIPWAY_HTTP_ADDR": "0.0.0.0:8080"},
		{"SLIPWAY_ENV": "test", "SLIPWAY_METRICS_ADDR": "127.0.0.1:0"}, // both on :0 get their own ports
	} {
		_, err := Load(env(ok))
		require.NoError(t, err, ok)
	}
	for _, clash := range []map[string]string{
		{"SLIPWAY_METRICS_ADDR": "127.0.0.1:8080"},
		{"SLIPWAY_METRICS_ADDR": "0.0.0.0:8080"},
		{"SLIPWAY_METRICS_ADDR": "127.0.0.1:9000", "SLIPWAY_HTTP_ADDR": ":9000"},
	} {
		_, err := Load(env(clash))
		require.ErrorContains(t, err, "setting SLIPWAY_METRICS_ADDR: ", clash)
		require.ErrorContains(t, err, "listener of their own", clash)
	}
}

func TestUnknownKIDMinInterval(t *testing.T) {
	cognito := func(interval string) map[string]string {
		return map[string]string{"SLIPWAY_AUTH_MODE": "cognito", "SLIPWAY_COGNITO_REGION": "eu-west-1",
			"SLIPWAY_COGNITO_USER_POOL_ID": "eu-west-1_Pool1", "SLIPWAY_COGNITO_CLIENT_IDS": "web",
			"SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL": interval}
	}
	s, err := Load(env(cognito("")))
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, s.Auth.Cognito.UnknownKIDMinInterval, "the default")
	require.Equal(t, 5*time.Minute, s.Auth.Cognito.RefreshInterval, "kept apart from the flood limit")
	for _, ok := range []string{"1s", "30s", "5m"} {
		_, err := Load(env(cognito(ok)))
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"0s", "999ms", "5m1s"} {
		_, err := Load(env(cognito(bad)))
		require.ErrorContains(t, err, "setting SLIPWAY_COGNITO_UNKNOWN_KID_MIN_INTERVAL: ", bad)
	}
}

func TestTreeLimits(t *testing.T) {
	s, err := Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, 1000, s.Runs.MaxTreeDepth)
	require.Equal(t, 1_000_000, s.Runs.MaxTreeEntries)
	for name, set := range map[string]func(*Settings){
		"runs.max_tree_depth":   func(s *Settings) { s.Runs.MaxTreeDepth = 0 },
		"runs.max_tree_entries": func(s *Settings) { s.Runs.MaxTreeEntries = 10 },
	} {
		s, err := Load(env(nil))
		require.NoError(t, err)
		set(s)
		require.ErrorContains(t, s.Validate(), "setting "+name+": ")
	}
}

// TestSecretsKeys reads the secrets keys as 32 bytes in base64, and never
// repeats a bad one in the error.
func TestSecretsKeys(t *testing.T) {
	s, err := Load(env(map[string]string{"SLIPWAY_SECRETS_KEY": " " + testSecretsKey + " ",
		"SLIPWAY_SECRETS_OLD_KEYS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=, " + testSecretsKey}))
	require.NoError(t, err)
	key, err := DecodeSecretsKey(s.Secrets.Key)
	require.NoError(t, err)
	require.Equal(t, "slipway-test-secrets-key-32bytes", string(key))
	require.Len(t, s.Secrets.OldKeys, 2)

	s, err = Load(env(nil))
	require.NoError(t, err)
	require.Empty(t, s.Secrets.Key, "none locally: the secrets module generates one into the data dir")

	for _, bad := range []string{"c2hvcnQ=", "not-base64-at-all-but-long-enough-to-be-32", testSecretsKey + "QQ==",
		"c2xpcHdheS10ZXN0LXNlY3JldHMta2V5LTMyYnl0ZXM"} {
		_, err := Load(env(map[string]string{"SLIPWAY_SECRETS_KEY": bad}))
		require.Error(t, err, bad)
		require.True(t, strings.HasPrefix(err.Error(), "setting SLIPWAY_SECRETS_KEY: is not 32 bytes in base64"), err.Error())
		require.NotContains(t, err.Error(), bad, "a key is never echoed")
		_, err = Load(env(map[string]string{"SLIPWAY_SECRETS_OLD_KEYS": testSecretsKey + "," + bad}))
		require.EqualError(t, err, "setting SLIPWAY_SECRETS_OLD_KEYS: key 2 of 2 is not 32 bytes in base64 (make one with: openssl rand -base64 32)")
	}
}

// TestQueueBackendFollowsRecords: without SLIPWAY_QUEUE the queue is the
// runs table on PostgreSQL and the in-process queue on JSON; the postgres
// queue cannot run without PostgreSQL records.
func TestQueueBackendFollowsRecords(t *testing.T) {
	pg := map[string]string{"SLIPWAY_STORAGE_BACKEND": "postgres", "SLIPWAY_DATABASE_URL": "postgres://u@db:5432/x"}
	with := func(kv map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"json default", nil, QueueLocal},
		{"postgres default", pg, QueuePostgres},
		{"postgres, local chosen", with(pg, "SLIPWAY_QUEUE", "local"), QueueLocal},
		{"postgres, sqs chosen", with(with(pg, "SLIPWAY_QUEUE", "sqs"), "SLIPWAY_SQS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/q"), QueueSQS},
		{"production", map[string]string{"SLIPWAY_ENV": "production", "SLIPWAY_S3_BUCKET": "b",
			"SLIPWAY_AUTH_TOKEN_SECRET": strings.Repeat("k", 32), "SLIPWAY_DATABASE_URL": "postgres://u@db:5432/x",
			"SLIPWAY_SECRETS_KEY": testSecretsKey}, QueuePostgres},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(env(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.want, s.QueueBackend())
		})
	}
	_, err := Load(env(map[string]string{"SLIPWAY_QUEUE": "postgres"}))
	require.EqualError(t, err, "setting SLIPWAY_QUEUE: postgres needs SLIPWAY_STORAGE_BACKEND=postgres (its queue is the runs table)")
}
