package containers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dockercontainer "github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// engine is a Runtime on the local Docker with the test image and an instance
// id whose containers go away with the test.
type engine struct {
	rt       *containers.Runtime
	image    string
	instance string
}

func newEngine(t *testing.T, cfg containers.Config) engine {
	t.Helper()
	rt := containertest.Runtime(t, cfg)
	return engine{rt: rt, image: containertest.Image(t, rt), instance: containertest.Instance(t, rt)}
}

// spec is a shell script run in a fresh workspace.
func (e engine) spec(t *testing.T, script string) containers.Spec {
	t.Helper()
	return containers.Spec{
		Image:      e.image,
		Cmd:        []string{"/bin/sh", "-c", script},
		Workspace:  containertest.Workspace(t),
		RunID:      "run-" + strings.ReplaceAll(t.Name(), "/", "-"),
		InstanceID: e.instance,
	}
}

// run starts spec and returns its merged output and exit.
func (e engine) run(t *testing.T, spec containers.Spec) (string, containers.Exit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, logs, err := e.rt.StartAttached(ctx, spec)
	require.NoError(t, err)
	defer logs.Close()
	out, err := io.ReadAll(logs)
	require.NoError(t, err)
	exit, err := e.rt.Wait(ctx, id)
	require.NoError(t, err)
	return string(out), exit
}

func TestRunWritesWorkspaceAndMergesLogs(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	// The pauses keep Docker's record of the two streams in write order.
	spec := e.spec(t, `echo out1; sleep 0.3; echo err1 >&2; sleep 0.3; echo out2; printf 'made by %s in %s' "$(id -u)" "$(pwd)" > result.txt`)

	out, exit := e.run(t, spec)

	require.Equal(t, "out1\nerr1\nout2\n", out)
	require.Equal(t, containers.Exit{Code: 0}, exit)
	got, err := os.ReadFile(filepath.Join(spec.Workspace, "result.txt"))
	require.NoError(t, err)
	require.Equal(t, "made by 65534 in /workspace", string(got))
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	tests := []struct {
		name   string
		script string
		want   containers.Exit
	}{
		{"success", "true", containers.Exit{Code: 0}},
		{"false", "false", containers.Exit{Code: 1}},
		{"exit 3", "exit 3", containers.Exit{Code: 3}},
		{"killed, not out of memory", "kill -KILL $$", containers.Exit{Code: 137}},
		{"missing command", "/bin/nope", containers.Exit{Code: 127}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, exit := e.run(t, e.spec(t, tt.script))
			require.Equal(t, tt.want, exit)
		})
	}
}

func TestOOMKilledReported(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	spec := e.spec(t, "")
	// tail keeps the whole last "line" in memory, and /dev/zero has no newline.
	spec.Cmd = []string{"/bin/tail", "/dev/zero"}
	spec.MemoryBytes = 16 << 20

	_, exit := e.run(t, spec)

	require.Equal(t, containers.Exit{Code: 137, OOMKilled: true}, exit)
}

func TestStop(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	tests := []struct {
		name     string
		script   string
		grace    time.Duration
		wantCode int
		minTime  time.Duration
		maxTime  time.Duration
	}{
		// The init process passes SIGTERM on; sleep dies of it at once.
		{"terminates", "echo ready; sleep 1000", 30 * time.Second, 143, 0, 15 * time.Second},
		// A process that ignores SIGTERM is killed when the grace period ends.
		{"killed after grace", "trap '' TERM; echo ready; sleep 1000", time.Second, 137, time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// Docker calls a container running as soon as its init process
			// exists, before that init can pass signals on (a SIGTERM to a
			// PID 1 with no handler is dropped). Stop once the script has
			// spoken: by then the init forwards signals to it.
			id, logs, err := e.rt.StartAttached(ctx, e.spec(t, tt.script))
			require.NoError(t, err)
			defer logs.Close()
			ready := make([]byte, len("ready\n"))
			_, err = io.ReadFull(logs, ready)
			require.NoError(t, err)
			require.Equal(t, "ready\n", string(ready))

			began := time.Now()
			require.NoError(t, e.rt.Stop(ctx, id, tt.grace))
			took := time.Since(began)

			require.GreaterOrEqual(t, took, tt.minTime)
			require.Less(t, took, tt.maxTime)
			exit, err := e.rt.Wait(ctx, id)
			require.NoError(t, err)
			require.Equal(t, containers.Exit{Code: tt.wantCode}, exit)
			// Stopping a stopped container is not an error.
			require.NoError(t, e.rt.Stop(ctx, id, time.Second))
		})
	}
}

func TestKillAndRunning(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The agent ignores SIGTERM: only SIGKILL ends it.
	id, err := e.rt.Start(ctx, e.spec(t, "trap '' TERM; sleep 1000"))
	require.NoError(t, err)
	running, err := e.rt.Running(ctx, id)
	require.NoError(t, err)
	require.True(t, running)

	require.NoError(t, e.rt.Kill(ctx, id))
	exit, err := e.rt.Wait(ctx, id)
	require.NoError(t, err)
	require.Equal(t, containers.Exit{Code: 137}, exit)
	running, err = e.rt.Running(ctx, id)
	require.NoError(t, err)
	require.False(t, running)
	// Killing a stopped container is not an error; a missing one is not running.
	require.NoError(t, e.rt.Kill(ctx, id))
	require.NoError(t, e.rt.Remove(ctx, id))
	running, err = e.rt.Running(ctx, id)
	require.NoError(t, err)
	require.False(t, running)
	require.ErrorIs(t, e.rt.Kill(ctx, id), derrors.ErrNotFound)
}

func TestEnvIsOnlyWhatWasPassed(t *testing.T) {
	// The server's own environment must not reach the container.
	t.Setenv("SLIPWAY_TEST_SERVER_SECRET", "must-not-leak")
	e := newEngine(t, containers.Config{})
	tests := []struct {
		name string
		env  map[string]string
		// Docker adds HOSTNAME always, HOME and PATH when they are not given.
		want map[string]string
	}{
		{
			name: "docker defaults added",
			env:  map[string]string{"SLIPWAY_PROMPT": "fix the bug; then 'test' it", "EMPTY": ""},
			want: map[string]string{"SLIPWAY_PROMPT": "fix the bug; then 'test' it", "EMPTY": "", "HOME": "/nonexistent", "PATH": "*", "HOSTNAME": "*"},
		},
		{
			name: "caller's HOME and PATH kept",
			env:  map[string]string{"HOME": "/workspace", "PATH": "/bin"},
			want: map[string]string{"HOME": "/workspace", "PATH": "/bin", "HOSTNAME": "*"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := e.spec(t, "")
			spec.Cmd = []string{"/bin/env"}
			spec.Env = tt.env

			out, exit := e.run(t, spec)

			require.Equal(t, 0, exit.Code, out)
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				k, v, ok := strings.Cut(line, "=")
				require.True(t, ok, line)
				got[k] = v
			}
			for k, v := range tt.want {
				if v == "*" {
					require.NotEmpty(t, got[k], k)
					got[k] = "*"
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestContainerIsConfined(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{TmpfsBytes: 8 << 20})
	script := `
grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status
echo "uid=$(id -u) gid=$(id -g)"
touch /x 2>/dev/null && echo "rootfs=writable" || echo "rootfs=readonly"
touch /tmp/x && echo "tmp=writable" || echo "tmp=readonly"
dd if=/dev/zero of=/tmp/big bs=1048576 count=32 2>/dev/null && echo "tmp=unbounded" || echo "tmp=bounded"
dd if=/dev/zero of=/dev/shm/big bs=1048576 count=32 2>/dev/null && echo "shm=unbounded" || echo "shm=bounded"
echo "interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ',')"
ls /var/run/docker.sock /run/docker.sock 2>/dev/null || echo "socket=absent"
`
	out, exit := e.run(t, e.spec(t, script))

	require.Equal(t, 0, exit.Code, out)
	for _, want := range []string{
		"CapEff:\t0000000000000000",
		"CapPrm:\t0000000000000000",
		"CapBnd:\t0000000000000000",
		"CapAmb:\t0000000000000000",
		"NoNewPrivs:\t1",
		"uid=65534 gid=65534",
		"rootfs=readonly",
		"tmp=writable",
		"tmp=bounded",
		"shm=bounded",
		"interfaces=lo,\n",
		"socket=absent",
	} {
		require.Contains(t, out, want)
	}
}

func TestHostConfig(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := e.spec(t, "true")
	spec.MemoryBytes, spec.NanoCPUs, spec.PidsLimit = 64<<20, 500_000_000, 50
	id, err := e.rt.Start(ctx, spec)
	require.NoError(t, err)

	info, err := e.rt.Client().ContainerInspect(ctx, id)
	require.NoError(t, err)

	hc := info.HostConfig
	require.False(t, hc.Privileged)
	require.Equal(t, []string{"ALL"}, []string(hc.CapDrop))
	require.Empty(t, hc.CapAdd)
	require.Contains(t, hc.SecurityOpt, "no-new-privileges")
	require.True(t, hc.ReadonlyRootfs)
	require.Equal(t, int64(64<<20), hc.Memory)
	require.Equal(t, hc.Memory, hc.MemorySwap)
	require.Equal(t, int64(500_000_000), hc.NanoCPUs)
	require.Equal(t, int64(50), *hc.PidsLimit)
	require.Equal(t, "none", string(hc.NetworkMode))
	require.False(t, hc.PidMode.IsHost())
	require.False(t, hc.IpcMode.IsHost())
	require.False(t, hc.UTSMode.IsHost())
	require.False(t, hc.UsernsMode.IsHost())
	require.False(t, hc.CgroupnsMode.IsHost())
	require.Empty(t, hc.Binds)
	require.Empty(t, hc.Devices)
	require.Contains(t, hc.Tmpfs["/tmp"], "size=")
	require.Equal(t, int64(containers.DefaultTmpfsBytes), hc.ShmSize)
	require.Equal(t, "local", hc.LogConfig.Type)
	require.Equal(t, map[string]string{"max-size": "10m", "max-file": "3", "compress": "true"}, hc.LogConfig.Config)
	require.Len(t, info.Mounts, 1)
	require.Equal(t, "/workspace", info.Mounts[0].Destination)
	require.True(t, info.Mounts[0].RW)
	require.Equal(t, "65534:65534", info.Config.User)
	require.Equal(t, "/workspace", info.Config.WorkingDir)
	require.False(t, info.Config.Tty)
	require.Equal(t, map[string]string{
		containers.LabelManaged:    "true",
		containers.LabelRunID:      spec.RunID,
		containers.LabelInstanceID: e.instance,
	}, info.Config.Labels)
}

// TestImageVolumesAreBoundedTmpfs runs an image that declares volumes:
// Docker would back them with volumes on the host's disk, which no limit
// of the container bounds; each is a tmpfs of the /tmp size instead. Each
// belongs to the container's user, even where the image ships the
// directory owned by root (/etc here).
func TestImageVolumesAreBoundedTmpfs(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{TmpfsBytes: 8 << 20})
	e.image = containertest.ImageWith(t, e.rt, "VOLUME /data /etc /workspace")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := e.spec(t, `echo x > /data/small && echo "data=writable"; dd if=/dev/zero of=/data/big bs=1048576 count=32 2>/dev/null && echo "data=unbounded" || echo "data=bounded"; `+
		`echo x > /etc/probe && echo "etc=writable"`)

	id, logs, err := e.rt.StartAttached(ctx, spec)
	require.NoError(t, err)
	defer logs.Close()
	info, err := e.rt.Client().ContainerInspect(ctx, id)
	require.NoError(t, err)
	for _, m := range info.Mounts {
		require.NotEqual(t, "volume", string(m.Type), "%s is a volume on the host's disk", m.Destination)
	}
	require.Contains(t, info.HostConfig.Tmpfs["/data"], "size=8388608")
	require.Contains(t, info.HostConfig.Tmpfs["/etc"], ",uid=65534,gid=65534")
	require.NotContains(t, info.HostConfig.Tmpfs["/tmp"], "uid=", "/tmp stays everyone's (mode 1777)")
	require.NotContains(t, info.HostConfig.Tmpfs, "/workspace", "the workspace stays the bind mount")
	out, err := io.ReadAll(logs)
	require.NoError(t, err)
	require.Equal(t, "data=writable\ndata=bounded\netc=writable\n", string(out))
}

func TestPidsLimit(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	// Thirty background sleeps need thirty processes at once.
	script := `i=0; while [ $i -lt 30 ]; do sleep 60 & i=$((i+1)); done; echo "started $i"`
	tests := []struct {
		name     string
		limit    int64
		wantOK   bool
		wantText string
	}{
		{"below the limit", 100, true, "started 30"},
		{"over the limit", 10, false, "can't fork"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := e.spec(t, script)
			spec.PidsLimit = tt.limit
			out, exit := e.run(t, spec)
			require.Equal(t, tt.wantOK, exit.Code == 0, out)
			require.Contains(t, out, tt.wantText)
		})
	}
}

func TestUserIsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{User: "1234:2345"})
	tests := []struct {
		name string
		user string
		want string
	}{
		{"runtime default", "", "1234 2345\n"},
		{"spec override", "4321:5432", "4321 5432\n"},
		{"uid only", "777", "777 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := e.spec(t, `echo "$(id -u) $(id -g)"`)
			spec.User = tt.user
			out, exit := e.run(t, spec)
			require.Equal(t, 0, exit.Code)
			require.Equal(t, tt.want, out)
		})
	}
}

func TestMissingContainerAndImage(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const missing = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	_, err := e.rt.Wait(ctx, missing)
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.ErrorIs(t, e.rt.Stop(ctx, missing, time.Second), derrors.ErrNotFound)
	require.NoError(t, e.rt.Remove(ctx, missing))

	spec := e.spec(t, "true")
	spec.Image = "slipway-test-no-such-image:latest"
	_, err = e.rt.Start(ctx, spec)
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	require.NotErrorIs(t, err, derrors.ErrNotFound)
	_, _, err = e.rt.StartAttached(ctx, spec)
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	list, err := e.rt.List(ctx, containers.Filter{InstanceID: e.instance})
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestOutputCloseEarly(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, logs, err := e.rt.StartAttached(ctx, e.spec(t, "while true; do echo tick; sleep 0.05; done"))
	require.NoError(t, err)

	buf := make([]byte, 5)
	_, err = io.ReadFull(logs, buf)
	require.NoError(t, err)
	require.Equal(t, "tick\n", string(buf))
	require.NoError(t, logs.Close())
	_, err = logs.Read(buf)
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

// TestOutputExactAcrossLogRotation has an agent write 22 MB as fast as it
// can while Docker's log driver rotates its files every 1 MiB: the attached
// output is every byte, once, in order. (Following the driver's files, as
// Docker's logs endpoint does, returned 4,229,441 of these 22,888,896 bytes.)
func TestOutputExactAcrossLogRotation(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{LogMaxBytes: 1 << 20, LogMaxFiles: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The agent also prints the sha256 of what it wrote, after it, on the
	// same stream: the comparison needs nothing but the output itself.
	spec := e.spec(t, "{ seq 1 3000000 | tee /proc/self/fd/3 | sha256sum; } 3>&1")
	id, out, err := e.rt.StartAttached(ctx, spec)
	require.NoError(t, err)
	defer out.Close()
	info, err := e.rt.Client().ContainerInspect(ctx, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"max-size": "1048576", "max-file": "2", "compress": "true"}, info.HostConfig.LogConfig.Config)

	data, reported := splitReportedSum(t, out)
	exit, err := e.rt.Wait(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 0, exit.Code)
	want := sha256.New()
	for i := 1; i <= 3_000_000; i++ {
		fmt.Fprintf(want, "%d\n", i)
	}
	require.Equal(t, int64(22_888_896), data.n, "bytes received")
	require.Equal(t, hex.EncodeToString(want.Sum(nil)), data.sum, "sha256 of the bytes received")
	require.Equal(t, data.sum, reported, "sha256 the agent computed")
}

// hashed is what a stream held: its length and sha256, without keeping it.
type hashed struct {
	n   int64
	sum string
}

// splitReportedSum reads an agent's output that ends with the line
// "<sha256 hex>  -" and returns the length and hash of what came before
// that line, and the hash the line reports.
func splitReportedSum(t *testing.T, r io.Reader) (hashed, string) {
	t.Helper()
	const tail = 64 + len("  -\n")
	h := sha256.New()
	var n int64
	var last []byte // the last tail bytes, held back
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		last = append(last, buf[:k]...)
		if over := len(last) - tail; over > 0 {
			h.Write(last[:over])
			n += int64(over)
			last = append(last[:0], last[over:]...)
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Len(t, last, tail)
	line := string(last)
	require.Regexp(t, `^[0-9a-f]{64}  -\n$`, line, "the agent's last line is its sha256")
	return hashed{n: n, sum: hex.EncodeToString(h.Sum(nil))}, line[:64]
}

func TestListAndReapTouchOnlyTheirContainers(t *testing.T) {
	t.Parallel()
	e := newEngine(t, containers.Config{})
	other := containertest.Instance(t, e.rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := func(instance, run string) string {
		spec := e.spec(t, "sleep 1000")
		spec.InstanceID, spec.RunID = instance, run
		id, err := e.rt.Start(ctx, spec)
		require.NoError(t, err)
		return id
	}
	stale := map[string]bool{start(e.instance, "r1"): true, start(e.instance, "r2"): true}
	kept := start(e.instance, "r3")
	otherInstance := start(other, "r1")
	// Two containers Reap must never see: one without labels, one carrying
	// Slipway's run and instance labels but not the managed label.
	unlabelled := startRaw(t, e, nil)
	unmanaged := startRaw(t, e, map[string]string{containers.LabelInstanceID: e.instance, containers.LabelRunID: "r4"})

	list, err := e.rt.List(ctx, containers.Filter{InstanceID: e.instance})
	require.NoError(t, err)
	require.ElementsMatch(t, append(keys(stale), kept), ids(list))
	for _, c := range list {
		require.Equal(t, e.instance, c.InstanceID)
		require.NotEmpty(t, c.RunID)
		require.False(t, c.CreatedAt.IsZero())
	}
	list, err = e.rt.List(ctx, containers.Filter{InstanceID: e.instance, RunID: "r3"})
	require.NoError(t, err)
	require.Equal(t, []string{kept}, ids(list))

	var seen []string
	removed, err := e.rt.Reap(ctx, func(c containers.Container) bool {
		seen = append(seen, c.ID)
		return c.InstanceID != e.instance || c.RunID == "r3"
	})
	require.NoError(t, err)

	require.ElementsMatch(t, keys(stale), ids(removed))
	require.Contains(t, seen, otherInstance)
	require.NotContains(t, seen, unlabelled)
	require.NotContains(t, seen, unmanaged)
	for id := range stale {
		_, err := e.rt.Client().ContainerInspect(ctx, id)
		require.Error(t, err, "stale container %s survived", id)
	}
	for _, id := range []string{kept, otherInstance, unlabelled, unmanaged} {
		info, err := e.rt.Client().ContainerInspect(ctx, id)
		require.NoError(t, err, "container %s was removed", id)
		require.True(t, info.State.Running, id)
	}
}

func TestSpecRefused(t *testing.T) {
	t.Parallel()
	// Nothing listens on this socket: a spec that got past the checks would
	// fail with ErrUnavailable, so ErrInvalidSpec proves Docker was not asked.
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "docker.sock")
	require.NoError(t, os.WriteFile(sock, nil, 0o600))
	rt, err := containers.New(containers.Config{Host: "unix://" + sock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })

	ws := t.TempDir()
	file := filepath.Join(ws, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	linkToSocketDir := filepath.Join(t.TempDir(), "innocent")
	require.NoError(t, os.Symlink(dir, linkToSocketDir))
	linkToRun := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.Symlink("/var/run", linkToRun))

	valid := containers.Spec{Image: "img", Cmd: []string{"true"}, Workspace: ws, RunID: "r", InstanceID: "i"}
	tests := []struct {
		name   string
		change func(*containers.Spec)
	}{
		{"no image", func(s *containers.Spec) { s.Image = "" }},
		{"no run id", func(s *containers.Spec) { s.RunID = "" }},
		{"no instance id", func(s *containers.Spec) { s.InstanceID = "" }},
		{"no workspace", func(s *containers.Spec) { s.Workspace = "" }},
		{"relative workspace", func(s *containers.Spec) { s.Workspace = "ws" }},
		{"missing workspace", func(s *containers.Spec) { s.Workspace = filepath.Join(ws, "nope") }},
		{"workspace is a file", func(s *containers.Spec) { s.Workspace = file }},
		{"workspace is the docker socket", func(s *containers.Spec) { s.Workspace = sock }},
		{"workspace holds the docker socket", func(s *containers.Spec) { s.Workspace = dir }},
		{"workspace links to the socket's directory", func(s *containers.Spec) { s.Workspace = linkToSocketDir }},
		{"workspace is /var/run", func(s *containers.Spec) { s.Workspace = "/var/run" }},
		{"workspace links to /var/run", func(s *containers.Spec) { s.Workspace = linkToRun }},
		{"workspace is the default socket", func(s *containers.Spec) { s.Workspace = "/var/run/docker.sock" }},
		{"workspace is /", func(s *containers.Spec) { s.Workspace = "/" }},
		{"workspace is /var", func(s *containers.Spec) { s.Workspace = "/var" }},
		{"workspace is /etc", func(s *containers.Spec) { s.Workspace = "/etc" }},
		{"workspace inside /proc", func(s *containers.Spec) { s.Workspace = "/proc/1" }},
		{"workspace dotted into /etc", func(s *containers.Spec) { s.Workspace = ws + "/../../../../../../etc" }},
		{"root user", func(s *containers.Spec) { s.User = "0" }},
		{"root user with group", func(s *containers.Spec) { s.User = "0:1000" }},
		{"named user", func(s *containers.Spec) { s.User = "root" }},
		{"host network", func(s *containers.Spec) { s.NetworkMode = "host" }},
		{"another container's network", func(s *containers.Spec) { s.NetworkMode = "container:abc" }},
		{"bad env name", func(s *containers.Spec) { s.Env = map[string]string{"A=B": "c"} }},
		{"memory below docker's minimum", func(s *containers.Spec) { s.MemoryBytes = 1 << 20 }},
		{"negative pids", func(s *containers.Spec) { s.PidsLimit = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := valid
			tt.change(&spec)
			_, err := rt.Start(context.Background(), spec)
			require.ErrorIs(t, err, containers.ErrInvalidSpec)
		})
	}
	t.Run("control: a valid spec reaches docker", func(t *testing.T) {
		t.Parallel()
		_, err := rt.Start(context.Background(), valid)
		require.ErrorIs(t, err, derrors.ErrUnavailable)
		require.NotErrorIs(t, err, containers.ErrInvalidSpec)
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  containers.Config
		ok   bool
	}{
		{"defaults", containers.Config{}, true},
		{"tcp host", containers.Config{Host: "tcp://127.0.0.1:2375"}, true},
		{"bad host", containers.Config{Host: "::nope"}, false},
		{"root user", containers.Config{User: "0:0"}, false},
		{"named user", containers.Config{User: "nobody"}, false},
		{"tiny memory", containers.Config{MemoryBytes: 1024}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := containers.New(tt.cfg)
			require.Equal(t, tt.ok, err == nil, err)
		})
	}
}

// startRaw starts a sleeping container with the plain Docker client, outside
// the Runtime, and removes it at cleanup.
func startRaw(t *testing.T, e engine, labels map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := e.rt.Client()
	created, err := cli.ContainerCreate(ctx, &dockercontainer.Config{
		Image: e.image, Cmd: []string{"/bin/sleep", "1000"}, Labels: labels, User: "65534:65534",
	}, &dockercontainer.HostConfig{NetworkMode: "none"}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, dockercontainer.RemoveOptions{Force: true})
	})
	require.NoError(t, cli.ContainerStart(ctx, created.ID, dockercontainer.StartOptions{}))
	return created.ID
}

func ids(list []containers.Container) []string {
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.ID)
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// shortTempDir is a temporary directory with a path short enough for a unix
// socket (t.TempDir() paths can pass the 108-byte limit).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sw")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
