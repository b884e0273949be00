package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/apierror"
	"github.com/slipwayhq/slipway/platform/clientip"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver/middleware"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Params are the server's dependencies.
type Params struct {
	fx.In
	Settings   *settings.Settings
	Log        *zap.Logger
	Guard      Guard
	Registrars []Registrar `group:"routes"`
	Shutdowner fx.Shutdowner
	// Requests, when metrics are on, is told about every answered request.
	Requests metrics.Requests `optional:"true"`
}

// Server is the HTTP server and the table of every operation it serves.
type Server struct {
	app        *fiber.App
	cfg        settings.HTTP
	log        *zap.Logger
	ops        []Operation
	seen       map[string]bool
	guard      Guard
	allow      *allowTable
	shutdowner fx.Shutdowner

	mu   sync.Mutex
	addr net.Addr
	done chan struct{}
}

// New builds the Fiber app and registers every operation. It does no I/O.
func New(p Params) (*Server, error) {
	s := &Server{cfg: p.Settings.HTTP, log: p.Log.Named("http"), shutdowner: p.Shutdowner}
	for _, r := range p.Registrars {
		s.ops = append(s.ops, r.Operations()...)
	}
	// Group order is random (fx value groups): sort so registration and the
	// document are deterministic.
	sort.SliceStable(s.ops, func(i, j int) bool {
		if s.ops[i].fullPath() != s.ops[j].fullPath() {
			return s.ops[i].fullPath() < s.ops[j].fullPath()
		}
		return s.ops[i].Method < s.ops[j].Method
	})
	s.allow = &allowTable{}
	cfg := fiber.Config{
		AppName:               "slipway",
		DisableStartupMessage: true,
		BodyLimit:             s.cfg.MaxBodyBytes,
		ReadBufferSize:        s.cfg.MaxHeaderBytes,
		ReadTimeout:           s.cfg.ReadTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		ErrorHandler:          apierror.Handler(s.log, apierror.HandlerOptions{Allow: s.allow.methods}),
		// Never let a handler's string outlive its request buffer by accident:
		// ids read from params are stored and logged (fiber #426).
		Immutable: true,
	}
	trusted, err := clientip.ParseTrusted(s.cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("setting SLIPWAY_TRUSTED_PROXIES: %w", err)
	}
	// No ProxyHeader: Fiber's c.IP() would return the left-most, client-written
	// X-Forwarded-For entry. The client's address comes from ClientAddr only;
	// c.IP() stays the peer. The proxy check stays on so that Fiber believes
	// X-Forwarded-Proto and -Host only from the configured proxies.
	cfg.EnableTrustedProxyCheck = true
	cfg.TrustedProxies = s.cfg.TrustedProxies
	s.app = fiber.New(cfg)
	guardMethods(s.app)
	chain := []any{middleware.ClientAddr(trusted), middleware.RequestID()}
	if p.Requests != nil {
		chain = append(chain, middleware.Observe(p.Requests))
	}
	s.app.Use(append(chain,
		middleware.AccessLog(s.log.Named("access").WithOptions(zap.WithCaller(false))), // the caller is always this line
		middleware.Recover(s.log),
		middleware.CORS(s.cfg.CORSOrigins),
	)...)
	s.guard = p.Guard
	s.seen = map[string]bool{}
	ops := s.ops
	s.ops = nil
	if err := s.Register(ops...); err != nil {
		return nil, err
	}
	return s, nil
}

// Register adds operations before the server starts; the platform's own
// routes (the OpenAPI document) come this way, after every module's.
func (s *Server) Register(ops ...Operation) error {
	for _, op := range ops {
		key := op.Method + " " + op.fullPath()
		if s.seen[key] {
			return fmt.Errorf("httpserver: route %s registered twice", key)
		}
		s.seen[key] = true
		handlers := []fiber.Handler{}
		if op.Access != Public {
			handlers = append(handlers, s.guard.Require(op.Access))
		}
		if h := refuseNULText(op); h != nil {
			handlers = append(handlers, h)
		}
		handlers = append(handlers, op.Handler)
		s.app.Add(op.Method, op.fullPath(), handlers...)
		s.ops = append(s.ops, op)
		s.allow.add(op)
	}
	return nil
}

// fullPath is the absolute Fiber path of op.
func (op Operation) fullPath() string {
	if op.Unversioned {
		return op.Path
	}
	return "/v1" + op.Path
}

// FullPath is the absolute Fiber path of op ("/v1/projects/:project_id").
func (op Operation) FullPath() string { return op.fullPath() }

// Operations returns every operation served: the modules' sorted by path and
// method, then any added with Register.
func (s *Server) Operations() []Operation { return s.ops }

// App returns the Fiber app, for in-process tests.
func (s *Server) App() *fiber.App { return s.app }

// Addr returns the bound address once started, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Start binds the listener (so "address in use" fails the start) and serves
// in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (SLIPWAY_HTTP_ADDR): %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.done = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("listening", zap.String("addr", ln.Addr().String()))
	go func() {
		defer close(s.done)
		if err := s.app.Listener(newLingerListener(ln, serverLinger)); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("http server stopped", zap.Error(err))
			_ = s.shutdowner.Shutdown(fx.ExitCode(1))
		}
	}()
	return nil
}

// Stop stops accepting, lets in-flight requests finish within the shutdown
// deadline, then closes what is left.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil // never started
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.app.ShutdownWithContext(ctx)
	if err != nil {
		s.log.Warn("shutdown deadline passed with requests in flight", zap.Error(err))
		_ = s.app.Shutdown() // close the rest now
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// allowTable answers "which methods does this path serve" for 405 responses.
type allowTable struct {
	routes []allowRoute
}

type allowRoute struct {
	segments []string
	method   string
}

func (t *allowTable) add(op Operation) {
	t.routes = append(t.routes, allowRoute{strings.Split(strings.Trim(op.fullPath(), "/"), "/"), op.Method})
}

func (t *allowTable) methods(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	set := map[string]bool{}
	for _, r := range t.routes {
		if matchSegments(r.segments, segs) {
			set[r.method] = true
		}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func matchSegments(pattern, path []string) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, p := range pattern {
		if !strings.HasPrefix(p, ":") && p != path[i] {
			return false
		}
	}
	return true
}

// guardMethods answers requests with a method Fiber does not know (it would
// write a plain-text 400 before any middleware or error handler runs) with
// the envelope, like every other failure.
func guardMethods(app *fiber.App) {
	srv := app.Server()
	next := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if slices.Contains(fiber.DefaultMethods, string(ctx.Method())) {
			next(ctx)
			return
		}
		body, _ := json.Marshal(apierror.Envelope(derrors.New(derrors.CodeMethodNotAllowed, "method "+string(ctx.Method())+" is not supported")))
		ctx.Response.Header.Set(middleware.HeaderRequestID, middleware.NewRequestID())
		ctx.SetContentType(fiber.MIMEApplicationJSON)
		ctx.SetStatusCode(fiber.StatusMethodNotAllowed)
		ctx.SetBody(body)
	}
}
