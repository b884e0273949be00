// Package settings loads Slipway's configuration: configs/default.yaml, then
// configs/$SLIPWAY_ENV.yaml, then SLIPWAY_* environment variables, which always
// win. Load validates everything and names the first bad setting in one line,
// so a wrong value stops the start before anything is opened.
package settings

import "time"

// Environments.
const (
	EnvLocal      = "local"
	EnvTest       = "test"
	EnvProduction = "production"
)

// Settings is the whole configuration. Modules take the projection they need
// (s.HTTP, s.Auth …) rather than the whole.
type Settings struct {
	Env     string  `yaml:"-"`
	HTTP    HTTP    `yaml:"http"`
	Log     Log     `yaml:"log"`
	Auth    Auth    `yaml:"auth"`
	Storage Storage `yaml:"storage"`
	Objects Objects `yaml:"objects"`
	Queue   Queue   `yaml:"queue"`
	Docker  Docker  `yaml:"docker"`
	Runs    Runs    `yaml:"runs"`
	Secrets Secrets `yaml:"secrets"`
	Metrics Metrics `yaml:"metrics"`
}

// HTTP configures the listener and request limits.
type HTTP struct {
	Addr            string        `yaml:"addr"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes    int           `yaml:"max_body_bytes"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
	CORSOrigins     []string      `yaml:"cors_origins"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
}

// Metrics configures the Prometheus listener.
type Metrics struct {
	// Addr is where /metrics is served, on a listener of its own and never
	// on the public one; empty turns metrics off (nothing is collected).
	Addr string `yaml:"addr"`
}

// Log configures zap.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Auth configures token verification and the custom-mode login.
type Auth struct {
	Mode               string        `yaml:"mode"`
	TokenSecret        string        `yaml:"token_secret"`
	TokenTTL           time.Duration `yaml:"token_ttl"`
	Issuer             string        `yaml:"issuer"`
	Audience           string        `yaml:"audience"`
	SignupEnabled      bool          `yaml:"signup_enabled"`
	LoginLimitPerEmail int           `yaml:"login_limit_per_email"`
	LoginLimitPerIP    int           `yaml:"login_limit_per_ip"`
	LoginLimitWindow   time.Duration `yaml:"login_limit_window"`
	SignupLimitPerIP   int           `yaml:"signup_limit_per_ip"`
	SignupLimitWindow  time.Duration `yaml:"signup_limit_window"`
	PasswordMemoryKiB  uint32        `yaml:"password_memory_kib"`
	// PasswordMemoryBudget (bytes) bounds the memory of the password hashes
	// running at once: budget ÷ (2 × PasswordMemoryKiB) of them, each counted
	// with the garbage it leaves until the next GC. Others wait in a queue of
	// PasswordQueueLength for at most PasswordQueueWait, then get a retryable
	// 503.
	PasswordMemoryBudget int           `yaml:"password_memory_budget"`
	PasswordQueueLength  int           `yaml:"password_queue_length"`
	PasswordQueueWait    time.Duration `yaml:"password_queue_wait"`
	Cognito              Cognito       `yaml:"cognito"`
}

// Auth modes.
const (
	AuthCustom  = "custom"
	AuthCognito = "cognito"
)

// Cognito configures the Cognito user-pool verifier.
type Cognito struct {
	Region          string        `yaml:"region"`
	UserPoolID      string        `yaml:"user_pool_id"`
	ClientIDs       []string      `yaml:"client_ids"`
	Issuer          string        `yaml:"issuer"`
	JWKSURL         string        `yaml:"jwks_url"`
	AcceptIDTokens  bool          `yaml:"accept_id_tokens"`
	Leeway          time.Duration `yaml:"leeway"`
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// UnknownKIDMinInterval spaces the JWKS fetches that tokens with an
	// unknown kid ask for: the flood limit, and the longest a newly
	// published key is refused. Apart from RefreshInterval so that one can
	// stay long without delaying key rotation.
	UnknownKIDMinInterval time.Duration `yaml:"unknown_kid_min_interval"`
	FetchTimeout          time.Duration `yaml:"fetch_timeout"`
}

// Storage configures the records backend.
type Storage struct {
	Backend     string `yaml:"backend"`
	DataDir     string `yaml:"data_dir"`
	DatabaseURL string `yaml:"database_url"`
	AutoMigrate bool   `yaml:"auto_migrate"`
	Pool        Pool   `yaml:"pool"`
}

// Record backends.
const (
	BackendJSON     = "json"
	BackendPostgres = "postgres"
)

// Pool configures the PostgreSQL connection pool.
type Pool struct {
	MaxOpenConns    int           `yaml:"max_open_conns"`
	MaxIdleConns    int           `yaml:"max_idle_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	ConnMaxIdleTime time.Duration `yaml:"conn_max_idle_time"`
}

// Objects configures the object store for logs and patches.
type Objects struct {
	Backend string `yaml:"backend"`
	S3      S3     `yaml:"s3"`
}

// S3 configures the S3 object store.
type S3 struct {
	Bucket   string `yaml:"bucket"`
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
}

// Queue configures the run queue.
type Queue struct {
	// Backend is local, postgres or sqs; empty chooses by the records
	// backend (QueueBackend).
	Backend string `yaml:"backend"`
	// PollInterval is how often an idle postgres-queue worker looks for
	// queued runs without being woken: the safety net under LISTEN/NOTIFY.
	PollInterval time.Duration `yaml:"poll_interval"`
	SQSQueueURL  string        `yaml:"sqs_queue_url"`
	SQSEndpoint  string        `yaml:"sqs_endpoint"`
	SQSRegion    string        `yaml:"sqs_region"`
	// SQSWaitTime is the long poll of one receive (at most 20s).
	SQSWaitTime time.Duration `yaml:"sqs_wait_time"`
	// SQSVisibilityTimeout hides a received message from other workers
	// while it is being claimed; it is extended while the claim lasts.
	SQSVisibilityTimeout time.Duration `yaml:"sqs_visibility_timeout"`
}

// Queue backends (SLIPWAY_QUEUE).
const (
	QueueLocal    = "local"
	QueuePostgres = "postgres"
	QueueSQS      = "sqs"
)

// QueueBackend is the run queue in use: the one set, or by default the
// runs table on PostgreSQL records and the in-process queue on JSON.
func (s *Settings) QueueBackend() string {
	switch {
	case s.Queue.Backend != "":
		return s.Queue.Backend
	case s.Storage.Backend == BackendPostgres:
		return QueuePostgres
	}
	return QueueLocal
}

// Docker configures the container runtime.
type Docker struct {
	Host string `yaml:"host"`
}

// Runs configures agent runs and their containers.
type Runs struct {
	// Execute is false on API-only instances: they accept runs and leave
	// them queued for `slipway worker` processes, and need no Docker.
	Execute           bool          `yaml:"execute"`
	Image             string        `yaml:"image"`
	Command           []string      `yaml:"command"`
	MaxConcurrent     int           `yaml:"max_concurrent"`
	MaxActivePerUser  int           `yaml:"max_active_per_user"`
	DefaultTimeout    time.Duration `yaml:"default_timeout"`
	MaxTimeout        time.Duration `yaml:"max_timeout"`
	MemoryBytes       int64         `yaml:"memory_bytes"`
	CPUs              float64       `yaml:"cpus"`
	PidsLimit         int64         `yaml:"pids_limit"`
	Network           string        `yaml:"network"`
	User              string        `yaml:"user"`
	ReadOnlyRootfs    bool          `yaml:"read_only_rootfs"`
	EnvAllowlist      []string      `yaml:"env_allowlist"`
	AllowFileURLs     bool          `yaml:"allow_file_urls"`
	AllowPrivateHosts bool          `yaml:"allow_private_hosts"`
	MaxPatchBytes     int64         `yaml:"max_patch_bytes"`
	StopGrace         time.Duration `yaml:"stop_grace"`
	// WorkspaceDir holds the runs' workspaces; "" means
	// <data_dir>/workspaces. It may be a volume of its own.
	WorkspaceDir string `yaml:"workspace_dir"`
	// MaxWorkspaceBytes and MaxWorkspaceFiles bound each workspace (the
	// clone and what the agent writes) while the agent runs.
	MaxWorkspaceBytes int64 `yaml:"max_workspace_bytes"`
	MaxWorkspaceFiles int64 `yaml:"max_workspace_files"`
	// WorkspaceLimits is how: auto, mount (a filesystem per workspace)
	// or scan (walking workspaces while agents run).
	WorkspaceLimits string `yaml:"workspace_limits"`
	// MaxPromptBytes bounds a run's prompt.
	MaxPromptBytes int `yaml:"max_prompt_bytes"`
	// IdempotencyTTL is how long an Idempotency-Key replays its run;
	// MaxIdempotencyKeys how many keys a user holds at most (the oldest
	// expire first).
	IdempotencyTTL     time.Duration `yaml:"idempotency_ttl"`
	MaxIdempotencyKeys int           `yaml:"max_idempotency_keys"`
	// MaxTreeDepth and MaxTreeEntries bound the workspace trees Slipway
	// walks (the clone it hands over, the agent's tree it scrubs before
	// the patch): how deep directories nest, how many entries in all.
	MaxTreeDepth   int    `yaml:"max_tree_depth"`
	MaxTreeEntries int    `yaml:"max_tree_entries"`
	Egress         Egress `yaml:"egress"`
	// MaxLogBytes caps a run's stored log: past it the log gets a marker
	// line and the agent's further output is discarded.
	MaxLogBytes int64 `yaml:"max_log_bytes"`
	// MaxFollowsPerUser and MaxFollows cap the open log streams
	// (?follow=true) of one user and of this instance.
	MaxFollowsPerUser int `yaml:"max_follows_per_user"`
	MaxFollows        int `yaml:"max_follows"`
}

// Runs.Network is NetworkNone, NetworkAllowlist (the egress proxy of
// Runs.Egress is the run's only way out) or a Docker network ("bridge" or a
// user-defined one).
const (
	NetworkNone      = "none"
	NetworkAllowlist = "allowlist"
)

// Egress configures the proxy that is a run's only way out when
// Runs.Network is "allowlist". Every bound is per run.
type Egress struct {
	// Allow lists the destinations, HOST:PORT (see platform/egress).
	Allow []string `yaml:"allow"`
	// Network is the Docker network the proxies reach out through; empty
	// makes one per instance.
	Network string `yaml:"network"`
	// ProxyBinary is a statically linked slipway binary to run the proxy
	// with; empty is the running one.
	ProxyBinary        string        `yaml:"proxy_binary"`
	MaxOpenConnections int           `yaml:"max_open_connections"`
	MaxConnections     int           `yaml:"max_connections"`
	IdleTimeout        time.Duration `yaml:"idle_timeout"`
	ConnectTimeout     time.Duration `yaml:"connect_timeout"`
	MaxBytes           int64         `yaml:"max_bytes"`
}

// How runs.workspace_limits holds workspaces to their limits.
const (
	WorkspaceLimitsAuto  = "auto"
	WorkspaceLimitsMount = "mount"
	WorkspaceLimitsScan  = "scan"
)

// MaxPromptBytesCeiling is the largest runs.max_prompt_bytes: the runs
// table holds prompts of up to 64 KiB, and Linux passes one argument or
// environment string of at most 128 KiB to the agent.
const MaxPromptBytesCeiling = 64 << 10

// Secrets configures the encryption of project secrets at rest.
type Secrets struct {
	// Key encrypts every secret written: SecretsKeyBytes random bytes in
	// standard base64. Required in production; elsewhere, when empty, one
	// is generated once into the data dir.
	Key string `yaml:"key"`
	// OldKeys only decrypt: the keys secrets were written under before the
	// last rotation, until every such secret has been written again.
	OldKeys []string `yaml:"old_keys"`
}
