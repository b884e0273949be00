// Package readiness is the extension point for /readyz: any module that owns
// a dependency (the records store, the object store, Docker, Cognito's keys)
// provides a Check into the value group, and the health module runs them all.
package readiness

import (
	"context"

	"go.uber.org/fx"
)

// Group is the fx value group tag of readiness checks.
const Group = `group:"readiness"`

// Check is one named readiness probe; Probe returns nil when ready.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
	// Optional checks report their state but never make /readyz fail
	// (e.g. Docker on a laptop that only browses the API): while one fails,
	// /readyz answers 200 with status "degraded".
	Optional bool
}

// AsCheck annotates a constructor returning a Check so it joins the group.
func AsCheck(f any) any {
	return fx.Annotate(f, fx.ResultTags(Group))
}
