package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/client"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Labels put on every container this package creates. List and Reap select by
// LabelManaged, so a container without it is never listed nor removed.
const (
	LabelManaged    = "dev.slipway.managed"
	LabelRunID      = "dev.slipway.run-id"
	LabelInstanceID = "dev.slipway.instance-id"
)

// DefaultHost is the Docker endpoint used when Config.Host is empty.
const DefaultHost = "unix:///var/run/docker.sock"

// Defaults applied by Config for fields left at zero.
const (
	DefaultUser            = "65534:65534" // nobody:nogroup
	DefaultPingTimeout     = 3 * time.Second
	DefaultCallTimeout     = 30 * time.Second
	DefaultMemoryBytes     = 2 << 30 // 2 GiB
	DefaultNanoCPUs        = 1_000_000_000
	DefaultPidsLimit       = 512
	DefaultTmpfsBytes      = 64 << 20 // 64 MiB
	DefaultReapConcurrency = 8
)

// Engine is what the runs module needs from a container runtime. Runtime
// implements it on the Docker Engine API.
type Engine interface {
	// Ping reports whether the daemon answers, within the ping timeout.
	Ping(ctx context.Context) error
	// Start creates and starts one container and returns its id.
	Start(ctx context.Context, spec Spec) (string, error)
	// StartAttached creates one container, attaches to its stdout and
	// stderr and starts it: out carries every byte of its output, merged,
	// until it exits.
	StartAttached(ctx context.Context, spec Spec) (id string, out io.ReadCloser, err error)
	// Wait blocks until the container has exited and reports how.
	Wait(ctx context.Context, id string) (Exit, error)
	// Stop signals the container and kills it after grace.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Kill sends SIGKILL at once; a container that is not running is fine.
	Kill(ctx context.Context, id string) error
	// Running asks the daemon whether the container still runs; a missing
	// container does not.
	Running(ctx context.Context, id string) (bool, error)
	// Remove deletes the container, killing it if needed; a missing one is fine.
	Remove(ctx context.Context, id string) error
	// List returns the managed containers that match filter.
	List(ctx context.Context, filter Filter) ([]Container, error)
	// Reap removes every managed container for which keep returns false.
	Reap(ctx context.Context, keep func(Container) bool) ([]Container, error)
}

var _ Engine = (*Runtime)(nil)

// Config configures a Runtime. Zero fields take the defaults above.
type Config struct {
	// Host is the Docker endpoint (SLIPWAY_DOCKER_HOST), e.g.
	// unix:///var/run/docker.sock or tcp://127.0.0.1:2375.
	Host string
	// User is the numeric "uid:gid" containers run as when the spec names none.
	// uid 0 is refused.
	User string
	// PingTimeout bounds Ping.
	PingTimeout time.Duration
	// CallTimeout bounds each short API call (create, start, inspect, list,
	// remove; stop gets it on top of the grace period). A daemon that does not
	// answer in time counts as unavailable.
	CallTimeout time.Duration
	// MemoryBytes, NanoCPUs and PidsLimit are the limits for a spec that sets
	// none; there is no way to ask for an unlimited container.
	MemoryBytes int64
	NanoCPUs    int64
	PidsLimit   int64
	// TmpfsBytes is the size of the tmpfs mounted on /tmp.
	TmpfsBytes int64
	// ReapConcurrency bounds the removals Reap runs at once.
	ReapConcurrency int
	// LogMaxBytes and LogMaxFiles size the files of Docker's "local" log
	// driver, which keeps each container's output on the host for
	// `docker logs` (zero: 10 MB and 3 files). Slipway reads the output
	// through StartAttached, never from these files.
	LogMaxBytes int64
	LogMaxFiles int
}

func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = DefaultMemoryBytes
	}
	if c.NanoCPUs == 0 {
		c.NanoCPUs = DefaultNanoCPUs
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	if c.TmpfsBytes == 0 {
		c.TmpfsBytes = DefaultTmpfsBytes
	}
	if c.ReapConcurrency <= 0 {
		c.ReapConcurrency = DefaultReapConcurrency
	}
	return c
}

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, err := client.ParseHostURL(c.Host); err != nil {
		return fmt.Errorf("docker host %q: %w", c.Host, err)
	}
	if err := validateUser(c.User); err != nil {
		return fmt.Errorf("default user: %w", err)
	}
	if c.MemoryBytes < minMemoryBytes {
		return fmt.Errorf("memory limit %d bytes is below the %d Docker accepts", c.MemoryBytes, minMemoryBytes)
	}
	if c.NanoCPUs < 0 || c.PidsLimit < 0 || c.TmpfsBytes < 0 {
		return errors.New("cpu, pids and tmpfs limits must not be negative")
	}
	if c.LogMaxBytes < 0 || c.LogMaxFiles < 0 {
		return errors.New("log file size and count must not be negative")
	}
	return nil
}

// Runtime runs containers on one Docker engine. It is safe for concurrent use.
type Runtime struct {
	cfg    Config
	client *client.Client
}

// New returns a Runtime for cfg. It does no I/O: the daemon is first contacted
// by Ping or by the first call, and the API version is negotiated then.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("containers.New: %w", err)
	}
	cfg = cfg.withDefaults()
	// No client.FromEnv: the settings, not DOCKER_* variables of the server's
	// environment, choose the daemon.
	cli, err := client.NewClientWithOpts(
		client.WithHost(cfg.Host),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("containers.New(%q): %w", cfg.Host, err)
	}
	return &Runtime{cfg: cfg, client: cli}, nil
}

// Config returns the configuration in effect, defaults applied.
func (r *Runtime) Config() Config { return r.cfg }

// Client returns the underlying Docker client, for callers (such as tests)
// that need an API call this package does not wrap.
func (r *Runtime) Client() *client.Client { return r.client }

// Close releases the idle connections to the daemon.
func (r *Runtime) Close() error { return r.client.Close() }

// Ping reports whether the daemon answers within Config.PingTimeout. It never
// waits longer than that, whatever the daemon does.
func (r *Runtime) Ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.PingTimeout)
	defer cancel()
	if _, err := r.client.Ping(cctx); err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the daemon.
			return fmt.Errorf("containers.Ping(%s): %w", r.cfg.Host, ctx.Err())
		}
		// Ping answers one question, can the daemon be used now: any other
		// failure (no socket, refused, no answer in time, an error status) is "no".
		return fmt.Errorf("containers.Ping(%s): %w", r.cfg.Host, derrors.Unavailable("docker", err))
	}
	return nil
}

// call runs fn under the per-call timeout and classifies its error.
func (r *Runtime) call(ctx context.Context, extra time.Duration, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout+extra)
	defer cancel()
	return r.classify(ctx, fn(cctx))
}
