// Package health serves /healthz (the process is alive; touches nothing) and
// /readyz (every required readiness check of the app passes; "degraded"
// when an optional one fails).
package health

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/readiness"
)

// Module provides the health routes.
var Module = fx.Module("health",
	fx.Provide(httpserver.AsRegistrar(NewRoutes)),
)

// checkTimeout bounds each readiness probe, so /readyz answers promptly even
// when a dependency hangs.
const checkTimeout = 2 * time.Second

// Params are the routes' dependencies.
type Params struct {
	fx.In
	Checks []readiness.Check `group:"readiness"`
	Log    *zap.Logger
}

// Routes serves the probes.
type Routes struct {
	checks []readiness.Check
	log    *zap.Logger
}

// NewRoutes builds the routes.
func NewRoutes(p Params) *Routes {
	checks := append([]readiness.Check(nil), p.Checks...)
	sort.Slice(checks, func(i, j int) bool { return checks[i].Name < checks[j].Name })
	return &Routes{checks: checks, log: p.Log.Named("health")}
}

// Status is the body of a live process.
type Status struct {
	Status string `json:"status" enum:"ok"`
}

// Readiness is the body of a ready server.
type Readiness struct {
	Status string            `json:"status" enum:"ok,degraded" doc:"ok: every check passes; degraded: an optional check (such as docker) fails, so some features answer 503 while the rest works"`
	Checks map[string]string `json:"checks" doc:"each check's state: ok or failing (the cause is in the log)"`
}

// The states of /readyz: a required check failing is a 503 not_ready.
const (
	statusOK       = "ok"
	statusDegraded = "degraded"
	checkOK        = "ok"
	checkFailing   = "failing"
)

// Operations lists the probes.
func (r *Routes) Operations() []httpserver.Operation {
	return []httpserver.Operation{
		{Method: http.MethodGet, Path: "/healthz", Unversioned: true, ID: "healthz", Tags: []string{"health"},
			Summary:   "Liveness: the process answers; touches no dependency",
			Responses: []httpserver.Response{{Status: 200, Body: Status{}}},
			Handler:   func(c *fiber.Ctx) error { return c.JSON(Status{Status: "ok"}) }},
		{Method: http.MethodGet, Path: "/readyz", Unversioned: true, ID: "readyz", Tags: []string{"health"},
			Summary: "Readiness: 200 ok when every check passes, 200 degraded when only optional checks fail, 503 not_ready naming the failed required checks",
			Responses: []httpserver.Response{{Status: 200, Body: Readiness{},
				Description: "Ready to serve. `status` is `ok` when every check passes and `degraded` when an optional check (such as `docker`) fails: the server takes traffic, and only the features needing that dependency answer 503 `service_unavailable`. A failing required check answers 503 `not_ready` instead, with `details.failed` naming it."}},
			Errors:  []derrors.Code{derrors.CodeNotReady},
			Handler: r.ready},
	}
}

func (r *Routes) ready(c *fiber.Ctx) error {
	results := r.run(c.UserContext())
	body := Readiness{Status: statusOK, Checks: map[string]string{}}
	var failed []string
	for i, chk := range r.checks {
		if err := results[i]; err != nil {
			// The cause may name hosts or carry driver text: log it, don't serve it.
			r.log.Warn("readiness check failing", zap.String("check", chk.Name), zap.Error(err))
			body.Checks[chk.Name] = checkFailing
			if chk.Optional {
				body.Status = statusDegraded
			} else {
				failed = append(failed, chk.Name)
			}
			continue
		}
		body.Checks[chk.Name] = checkOK
	}
	if len(failed) > 0 {
		return derrors.New(derrors.CodeNotReady, "not ready: "+strings.Join(failed, ", ")).
			WithDetail("failed", failed).WithDetail("checks", body.Checks)
	}
	return c.JSON(body)
}

// run probes every check in parallel, each under checkTimeout.
func (r *Routes) run(ctx context.Context) []error {
	out := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i, chk := range r.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			out[i] = chk.Probe(cctx)
		}()
	}
	wg.Wait()
	return out
}
