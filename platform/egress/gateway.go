package egress

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// Roles of the managed objects an egress path is made of (containers.LabelRole).
const (
	RoleProxy   = "egress-proxy"   // the proxy container of a run
	RoleRun     = "egress-run"     // a run's internal network
	RoleOutside = "egress-outside" // an instance's network out, for its proxies
)

// The proxy container's limits: it copies bytes and keeps a few dozen
// connections, nothing more.
const (
	proxyMemoryBytes = 64 << 20
	proxyNanoCPUs    = 1_000_000_000
	proxyPidsLimit   = 64
	proxyStopGrace   = 5 * time.Second
)

// Docker is what a Gateway needs of the container runtime;
// *containers.Runtime implements it.
type Docker interface {
	CreateNetwork(ctx context.Context, spec containers.NetworkSpec) (string, error)
	RemoveNetwork(ctx context.Context, id string) error
	InspectNetwork(ctx context.Context, id string) (containers.Network, error)
	Networks(ctx context.Context, filter containers.Filter) ([]containers.Network, error)
	HasImage(ctx context.Context, ref string) (bool, error)
	ImportImage(ctx context.Context, ref string, layer io.Reader) error
	RemoveImages(ctx context.Context, repo, keep string) int
	StartSidecar(ctx context.Context, spec containers.SidecarSpec) (string, error)
	Address(ctx context.Context, id, network string) (netip.Addr, error)
	Logs(ctx context.Context, id string) (io.ReadCloser, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
}

var _ Docker = (*containers.Runtime)(nil)

// Config configures a Gateway.
type Config struct {
	// Policy is what every run's proxy admits, and its bounds.
	Policy Policy
	// OutsideNetwork is the network the proxies reach their destinations
	// through. Empty: the Gateway creates a bridge network per instance,
	// with traffic between its containers off, and removes it at stop.
	OutsideNetwork string
	// ProxyBinary is a statically linked slipway binary; empty is the
	// running executable.
	ProxyBinary string
	// StartTimeout bounds a proxy's start, until it listens; 0 is 30s.
	StartTimeout time.Duration
}

// Gateway gives each run its way out: an internal network whose bridge has
// no address on the host, so that the run's container reaches only its
// peers there, and, as the only peer, a proxy container attached to that
// network and to the outside network. See Open.
type Gateway struct {
	docker Docker
	cfg    Config
	log    *zap.Logger

	imageMu sync.Mutex // held while the image is made
	image   string

	mu      sync.Mutex        // held while an outside network is made
	outside map[string]string // instance id → id of the network created for it
	paths   map[*Path]struct{}

	// prepared is closed when the image work Start began has ended;
	// cancelPrepare ends it early. Both are nil before Start.
	prepared      chan struct{}
	cancelPrepare context.CancelFunc
}

// NewGateway returns a Gateway. It does no I/O.
func NewGateway(docker Docker, cfg Config, log *zap.Logger) *Gateway {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	cfg.Policy = cfg.Policy.withDefaults()
	return &Gateway{docker: docker, cfg: cfg, log: log, outside: map[string]string{}, paths: map[*Path]struct{}{}}
}

// Policy returns the policy every proxy gets.
func (g *Gateway) Policy() Policy { return g.cfg.Policy }

// binary is the proxy binary's path.
func (g *Gateway) binary() (string, error) {
	if g.cfg.ProxyBinary != "" {
		return g.cfg.ProxyBinary, nil
	}
	return os.Executable()
}

// Start checks that the proxy binary can run in an empty image, and
// begins making the proxy image (and removing images of older binaries) in
// the background: hashing the binary and asking Docker take longer than a
// start may (architecture.md: under 50 ms), and the first run waits for the
// image anyway. A binary that cannot work fails the start; Docker being
// away does not (the first run makes the image).
func (g *Gateway) Start(context.Context) error {
	bin, err := g.binary()
	if err != nil {
		return fmt.Errorf("egress: the proxy binary: %w", err)
	}
	if err := checkStatic(bin); err != nil {
		return fmt.Errorf("egress (runs.network is allowlist): %w", err)
	}
	// Not the hook's context: it ends when the start does.
	ctx, cancel := context.WithCancel(context.Background())
	g.prepared, g.cancelPrepare = make(chan struct{}), cancel
	go func() {
		defer close(g.prepared)
		g.prepareImage(ctx)
	}()
	return nil
}

// prepareImage makes the proxy image and removes older ones, and logs how
// it went.
func (g *Gateway) prepareImage(ctx context.Context) {
	began := time.Now()
	ref, err := g.ensureImage(ctx)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("egress proxy image not made at start; the first run will try again", zap.Error(err))
		}
		return
	}
	removed := g.docker.RemoveImages(ctx, ImageRepo, ref)
	g.log.Info("egress proxy image ready", zap.String("image", ref), zap.Duration("took", time.Since(began)),
		zap.Int("old_images_removed", removed))
}

// Stop ends the image work Start began, then removes the paths still open
// and the outside networks this Gateway created. It runs after the runs
// module has removed its containers.
func (g *Gateway) Stop(ctx context.Context) error {
	if g.prepared != nil {
		g.cancelPrepare()
		<-g.prepared
	}
	g.mu.Lock()
	paths := make([]*Path, 0, len(g.paths))
	for p := range g.paths {
		paths = append(paths, p)
	}
	outside := g.outside
	g.outside = map[string]string{}
	g.mu.Unlock()
	var errs []error
	for _, p := range paths {
		errs = append(errs, p.Close(ctx))
	}
	for instance, id := range outside {
		if err := g.docker.RemoveNetwork(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("egress: removing the outside network of %s: %w", instance, err))
		}
	}
	return errors.Join(errs...)
}

// ensureImage makes the proxy image unless the Docker host has it.
func (g *Gateway) ensureImage(ctx context.Context) (string, error) {
	g.imageMu.Lock()
	defer g.imageMu.Unlock()
	bin, err := g.binary()
	if err != nil {
		return "", err
	}
	if g.image == "" {
		if g.image, err = imageRef(bin); err != nil {
			return "", fmt.Errorf("egress: reading the proxy binary: %w", err)
		}
	}
	ok, err := g.docker.HasImage(ctx, g.image)
	if err != nil || ok {
		return g.image, err
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeLayer(pw, bin)) }()
	err = g.docker.ImportImage(ctx, g.image, pr)
	pr.CloseWithError(errors.New("import ended"))
	if err != nil {
		return "", err
	}
	return g.image, nil
}

// outsideNetwork returns the network the proxies of instance reach out
// through, creating the instance's own when none is configured.
func (g *Gateway) outsideNetwork(ctx context.Context, instanceID string) (string, error) {
	if g.cfg.OutsideNetwork != "" {
		return g.cfg.OutsideNetwork, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	name := "slipway-egress-out-" + instanceID
	if _, ok := g.outside[instanceID]; ok {
		return name, nil
	}
	id, err := g.docker.CreateNetwork(ctx, containers.NetworkSpec{Name: name, Isolated: true,
		InstanceID: instanceID, Role: RoleOutside})
	if err != nil {
		return "", err
	}
	g.outside[instanceID] = id
	return name, nil
}

// Path is one run's way out.
type Path struct {
	g     *Gateway
	runID string
	log   *zap.Logger

	// Network is the run's network: the agent's container goes on it.
	Network string
	// Env points the agent at the proxy: HTTPS_PROXY, HTTP_PROXY and
	// NO_PROXY, each also in lower case.
	Env map[string]string
	// Took is how long Open took.
	Took time.Duration

	networkID string
	proxyID   string

	decisions  chan Decision
	dropped    int
	listening  chan struct{}
	followed   chan struct{} // closed when the proxy's output has ended
	stopLogs   context.CancelFunc
	lastOutput string // the proxy's last line that was not a decision
}

// decisionBuffer is how many decisions wait for a reader before the
// oldest unread are dropped (from the run's log only: the server log has
// every one).
const decisionBuffer = 1024

// Open makes the run's way out: its network, internal and without a host
// address, and its proxy, listening on that network with policy and on the
// outside network. It returns once the proxy listens. On error nothing is
// left behind.
func (g *Gateway) Open(ctx context.Context, runID, instanceID string) (_ *Path, err error) {
	defer derrors.Wrap(&err, "egress.Open(run %s)", runID)
	began := time.Now()
	image, err := g.ensureImage(ctx)
	if err != nil {
		return nil, fmt.Errorf("proxy image: %w", err)
	}
	outside, err := g.outsideNetwork(ctx, instanceID)
	if err != nil {
		return nil, fmt.Errorf("outside network: %w", err)
	}
	p := &Path{g: g, runID: runID, log: g.log.With(zap.String("run_id", runID)),
		Network:   "slipway-egress-" + runID,
		decisions: make(chan Decision, decisionBuffer), listening: make(chan struct{}), followed: make(chan struct{})}
	g.mu.Lock()
	g.paths[p] = struct{}{}
	g.mu.Unlock()
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if cerr := p.Close(cctx); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
			}
		}
	}()
	p.networkID, err = g.docker.CreateNetwork(ctx, containers.NetworkSpec{Name: p.Network, Internal: true,
		NoHostAddress: true, RunID: runID, InstanceID: instanceID, Role: RoleRun})
	if err != nil {
		return nil, fmt.Errorf("run network: %w", err)
	}
	cmd := append([]string{BinaryPath, CommandName}, g.cfg.Policy.Args(":"+strconv.Itoa(Port))...)
	p.proxyID, err = g.docker.StartSidecar(ctx, containers.SidecarSpec{Image: image, Cmd: cmd,
		Networks: []string{p.Network, outside}, RunID: runID, InstanceID: instanceID, Role: RoleProxy,
		MemoryBytes: proxyMemoryBytes, NanoCPUs: proxyNanoCPUs, PidsLimit: proxyPidsLimit})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var logsCtx context.Context
	logsCtx, p.stopLogs = context.WithCancel(context.Background())
	out, err := g.docker.Logs(logsCtx, p.proxyID)
	if err != nil {
		return nil, fmt.Errorf("proxy output: %w", err)
	}
	go p.follow(out)
	wait := time.NewTimer(g.cfg.StartTimeout)
	defer wait.Stop()
	select {
	case <-p.listening:
	case <-p.followed:
		return nil, fmt.Errorf("the proxy exited before listening: %s", p.lastOutput)
	case <-wait.C:
		return nil, fmt.Errorf("the proxy did not listen within %s", g.cfg.StartTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	addr, err := g.docker.Address(ctx, p.proxyID, p.Network)
	if err != nil {
		return nil, err
	}
	p.Env = proxyEnv(addr)
	p.Took = time.Since(began)
	p.log.Info("egress proxy ready", zap.String("network", p.Network), zap.Stringer("proxy", addr),
		zap.Duration("took", p.Took))
	return p, nil
}

// proxyEnv is the agent's environment pointing at the proxy at addr.
func proxyEnv(addr netip.Addr) map[string]string {
	u := "http://" + net.JoinHostPort(addr.String(), strconv.Itoa(Port))
	none := "localhost,127.0.0.1,::1"
	return map[string]string{
		"HTTPS_PROXY": u, "https_proxy": u,
		"HTTP_PROXY": u, "http_proxy": u,
		"NO_PROXY": none, "no_proxy": none,
	}
}

// maxProxyLine bounds one line of the proxy's output.
const maxProxyLine = 64 << 10

// follow reads the proxy's output until it ends: the listening line, then
// a decision per connection, each handed to Decisions (whose reader logs
// it, knowing what to mask in it).
func (p *Path) follow(out io.ReadCloser) {
	defer close(p.followed)
	defer close(p.decisions)
	defer out.Close()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 4096), maxProxyLine)
	listening := false
	for sc.Scan() {
		var d Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.Event == "" {
			p.lastOutput = sc.Text()
			p.log.Warn("egress proxy output", zap.String("line", p.lastOutput))
			continue
		}
		switch d.Event {
		case EventListening:
			if !listening {
				listening = true
				close(p.listening)
			}
			continue
		case EventSummary:
			if d.Unlogged > 0 {
				p.log.Warn("egress connections refused past the limit", zap.Int64("unlogged", d.Unlogged))
			}
		}
		select {
		case p.decisions <- d:
		default:
			p.dropped++
		}
	}
	if p.dropped > 0 {
		p.log.Warn("egress decisions dropped: nobody read them in time", zap.Int("dropped", p.dropped))
	}
}

// Decisions delivers the proxy's decisions; it is closed when the proxy's
// output ends (after Stop). A reader that falls 1024 behind loses the
// newest ones (counted in a warning).
func (p *Path) Decisions() <-chan Decision { return p.decisions }

// Stop stops the proxy (which ends its tunnels and writes their lines) and
// waits, within ctx, until its last decision has been read from it.
func (p *Path) Stop(ctx context.Context) error {
	if p.proxyID == "" {
		return nil
	}
	err := p.g.docker.Stop(ctx, p.proxyID, proxyStopGrace)
	select {
	case <-p.followed:
	case <-ctx.Done():
		p.stopLogs()
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// Close removes the proxy and the run's network. The agent's container
// must be gone: Docker keeps a network that has containers attached. It
// may be called again after a failure (Stop does, for paths still open).
func (p *Path) Close(ctx context.Context) error {
	if p.stopLogs != nil {
		p.stopLogs()
	}
	var errs []error
	if p.proxyID != "" {
		errs = append(errs, p.g.docker.Remove(ctx, p.proxyID))
	}
	if p.networkID != "" {
		errs = append(errs, p.g.docker.RemoveNetwork(ctx, p.networkID))
	}
	err := errors.Join(errs...)
	if err == nil {
		p.g.mu.Lock()
		delete(p.g.paths, p)
		p.g.mu.Unlock()
	}
	return err
}

// Prune removes the egress networks of the instances dead reports as
// dead; their containers, proxies included, must already be removed (the
// runs module reaps them first). It returns how many it removed.
func (g *Gateway) Prune(ctx context.Context, dead func(instanceID string) bool) (int, error) {
	list, err := g.docker.Networks(ctx, containers.Filter{})
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, n := range list {
		if n.Role != RoleRun && n.Role != RoleOutside || !dead(n.InstanceID) {
			continue
		}
		if err := g.docker.RemoveNetwork(ctx, n.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
