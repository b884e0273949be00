package containers

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// WorkspaceDir is where the workspace appears inside the container; it is also
// the working directory.
const WorkspaceDir = "/workspace"

// minMemoryBytes is the smallest memory limit Docker accepts (6 MiB).
const minMemoryBytes = 6 << 20

// Spec describes one container. Zero limits take the Runtime's defaults.
type Spec struct {
	// Image is a local image reference; it is never pulled.
	Image string
	// Cmd is the command; empty runs the image's default command.
	Cmd []string
	// Env is the complete environment the caller wants; nothing from the
	// server's own environment is added. Docker itself adds HOSTNAME, and
	// HOME and PATH when Env does not set them.
	Env map[string]string
	// Workspace is an absolute host directory, mounted read-write at
	// /workspace. It must be writable by User.
	Workspace string
	// RunID and InstanceID label the container (both required).
	RunID      string
	InstanceID string
	// User is a numeric "uid" or "uid:gid" other than root; empty takes
	// Config.User.
	User string
	// MemoryBytes is the memory limit; swap is disabled (MemorySwap = Memory).
	MemoryBytes int64
	// NanoCPUs is the CPU quota in billionths of a CPU.
	NanoCPUs int64
	// PidsLimit caps the processes and threads in the container.
	PidsLimit int64
	// NetworkMode is "none" (the default), "bridge" or a user-defined network;
	// "host" and "container:…" are refused.
	NetworkMode string
}

var (
	userPattern   = regexp.MustCompile(`^([0-9]+)(:([0-9]+))?$`)
	networkName   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	envNamePatten = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validateUser accepts a numeric "uid" or "uid:gid" whose uid is not 0.
func validateUser(u string) error {
	m := userPattern.FindStringSubmatch(u)
	if m == nil {
		return fmt.Errorf("user %q is not a numeric uid[:gid]", u)
	}
	uid, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		return fmt.Errorf("user %q: %w", u, err)
	}
	if uid == 0 {
		return fmt.Errorf("user %q is root", u)
	}
	if m[3] != "" {
		if _, err := strconv.ParseUint(m[3], 10, 32); err != nil {
			return fmt.Errorf("user %q: %w", u, err)
		}
	}
	return nil
}

// systemDirs may not be the workspace, hold it, or lie inside it: they carry
// the Docker and containerd sockets, the daemon's state, kernel interfaces and
// the host's configuration and binaries.
var systemDirs = []string{
	"/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/docker", "/var/lib/containerd",
	"/etc", "/boot", "/root", "/usr", "/bin", "/sbin", "/lib", "/lib64",
}

// resolveWorkspace checks the workspace and returns the path to mount, with
// symlinks resolved so that a link cannot smuggle in a forbidden directory.
func (r *Runtime) resolveWorkspace(ws string) (string, error) {
	if ws == "" {
		return "", fmt.Errorf("%w: workspace is required", ErrInvalidSpec)
	}
	if !filepath.IsAbs(ws) {
		return "", fmt.Errorf("%w: workspace %q is not an absolute path", ErrInvalidSpec, ws)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Clean(ws))
	if err != nil {
		return "", fmt.Errorf("%w: workspace %q: %w", ErrInvalidSpec, ws, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", fmt.Errorf("%w: workspace %q: %w", ErrInvalidSpec, ws, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%w: workspace %q is not a directory", ErrInvalidSpec, ws)
	}
	for _, f := range r.forbiddenPaths() {
		if within(resolved, f) || within(f, resolved) {
			return "", fmt.Errorf("%w: workspace %q (%s) overlaps %s, which is never mounted", ErrInvalidSpec, ws, resolved, f)
		}
	}
	return resolved, nil
}

// forbiddenPaths lists the system directories and the Docker socket of this
// runtime, each both as written and with symlinks resolved.
func (r *Runtime) forbiddenPaths() []string {
	paths := append([]string(nil), systemDirs...)
	if u, err := url.Parse(r.cfg.Host); err == nil && u.Scheme == "unix" && u.Path != "" {
		paths = append(paths, u.Path)
	}
	out := make([]string, 0, 2*len(paths))
	for _, p := range paths {
		out = append(out, filepath.Clean(p))
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			out = append(out, resolved)
		}
	}
	return out
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, "../"))
}

// Log rotation of every container, whatever the daemon's defaults: at most
// logFiles files of logMaxSize each on the Docker host's disk.
const (
	logMaxSize = "10m"
	logFiles   = "3"
)

// build validates spec and turns it into the Docker create request.
func (r *Runtime) build(spec Spec) (*container.Config, *container.HostConfig, error) {
	if spec.Image == "" {
		return nil, nil, fmt.Errorf("%w: image is required", ErrInvalidSpec)
	}
	if spec.RunID == "" || spec.InstanceID == "" {
		return nil, nil, fmt.Errorf("%w: run id and instance id are required", ErrInvalidSpec)
	}
	user := spec.User
	if user == "" {
		user = r.cfg.User
	}
	if err := validateUser(user); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	network := spec.NetworkMode
	if network == "" {
		network = string(container.NetworkMode("none"))
	}
	if nm := container.NetworkMode(network); nm.IsHost() || nm.IsContainer() || !networkName.MatchString(network) {
		return nil, nil, fmt.Errorf("%w: network mode %q is not allowed", ErrInvalidSpec, network)
	}
	memory, cpus, pids := spec.MemoryBytes, spec.NanoCPUs, spec.PidsLimit
	if memory == 0 {
		memory = r.cfg.MemoryBytes
	}
	if cpus == 0 {
		cpus = r.cfg.NanoCPUs
	}
	if pids == 0 {
		pids = r.cfg.PidsLimit
	}
	if memory < minMemoryBytes || cpus < 0 || pids < 0 {
		return nil, nil, fmt.Errorf("%w: limits out of range (memory %d, nano cpus %d, pids %d)", ErrInvalidSpec, memory, cpus, pids)
	}
	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		if !envNamePatten.MatchString(k) || strings.ContainsRune(v, 0) {
			return nil, nil, fmt.Errorf("%w: environment variable %q", ErrInvalidSpec, k)
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	workspace, err := r.resolveWorkspace(spec.Workspace)
	if err != nil {
		return nil, nil, err
	}

	init := true
	cfg := &container.Config{
		Image:      spec.Image,
		Cmd:        append([]string(nil), spec.Cmd...),
		Env:        env,
		User:       user,
		WorkingDir: WorkspaceDir,
		Tty:        false,
		OpenStdin:  false,
		Labels: map[string]string{
			LabelManaged:    "true",
			LabelRunID:      spec.RunID,
			LabelInstanceID: spec.InstanceID,
		},
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(network),
		Mounts: []mount.Mount{{
			Type:   mount.TypeBind,
			Source: workspace,
			Target: WorkspaceDir,
			BindOptions: &mount.BindOptions{
				Propagation: mount.PropagationRPrivate,
			},
		}},
		Tmpfs:          map[string]string{"/tmp": r.tmpfsOptions()},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Privileged:     false,
		// A tiny init as pid 1 forwards the stop signal and reaps zombies the
		// agent's tools leave behind.
		Init: &init,
		Resources: container.Resources{
			Memory:     memory,
			MemorySwap: memory,
			NanoCPUs:   cpus,
			PidsLimit:  &pids,
		},
		ShmSize:      r.cfg.TmpfsBytes,
		IpcMode:      container.IPCModePrivate,
		PidMode:      "",
		UTSMode:      "",
		UsernsMode:   "",
		CgroupnsMode: container.CgroupnsModePrivate,
		// The "local" driver rotates and compresses, so a chatty agent
		// cannot fill the host's disk. Its sizes are set here, not left to
		// the daemon's configuration. It is for operators' `docker logs`:
		// runs read the output attached (StartAttached), which no rotation
		// can cut.
		LogConfig: r.logConfig(),
	}
	return cfg, host, nil
}

// tmpfsOptions are those of every tmpfs the container gets: each is bounded
// (and charged to the container's memory limit as well).
func (r *Runtime) tmpfsOptions() string {
	return fmt.Sprintf("rw,nosuid,nodev,size=%d", r.cfg.TmpfsBytes)
}

// coverVolumes mounts a tmpfs on each path the image declares as a volume
// (but the workspace). Docker would otherwise back each with a volume on
// the host's disk, where writes count against no limit of the container.
// Each belongs to the container's user (uid[:gid]): Docker copies the
// image's files in, but gives the tmpfs itself to root, so a home the
// image declares (an agent's config and state) would be read-only to the
// agent, which never runs as root.
func (r *Runtime) coverVolumes(host *container.HostConfig, imageVolumes []string, user string) {
	owner := ""
	if m := userPattern.FindStringSubmatch(user); m != nil {
		owner = ",uid=" + m[1]
		if m[3] != "" {
			owner += ",gid=" + m[3]
		}
	}
	for _, v := range imageVolumes {
		v = path.Clean(v)
		if path.IsAbs(v) && v != "/" && v != WorkspaceDir {
			host.Tmpfs[v] = r.tmpfsOptions() + owner
		}
	}
}

// logConfig is the containers' log driver: logFiles files of logMaxSize,
// unless the Config says otherwise.
func (r *Runtime) logConfig() container.LogConfig {
	size, files := logMaxSize, logFiles
	if r.cfg.LogMaxBytes > 0 {
		size = strconv.FormatInt(r.cfg.LogMaxBytes, 10)
	}
	if r.cfg.LogMaxFiles > 0 {
		files = strconv.Itoa(r.cfg.LogMaxFiles)
	}
	return container.LogConfig{Type: "local", Config: map[string]string{"max-size": size, "max-file": files, "compress": "true"}}
}
