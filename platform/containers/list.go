package containers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Container is a managed container as List sees it.
type Container struct {
	ID         string
	RunID      string
	InstanceID string
	// State is Docker's state: created, running, paused, restarting,
	// removing, exited or dead.
	State string
	// CreatedAt has one-second precision (what the list API reports).
	CreatedAt time.Time
}

// Running reports whether the container's processes may still be running.
func (c Container) Running() bool {
	switch c.State {
	case "running", "paused", "restarting":
		return true
	}
	return false
}

// Filter narrows List to the managed containers of one instance and/or run;
// the zero Filter lists every managed container, of every instance.
type Filter struct {
	InstanceID string
	RunID      string
}

// args are the daemon's label filters for the managed objects f matches.
func (f Filter) args() filters.Args {
	args := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if f.InstanceID != "" {
		args.Add("label", LabelInstanceID+"="+f.InstanceID)
	}
	if f.RunID != "" {
		args.Add("label", LabelRunID+"="+f.RunID)
	}
	return args
}

// List returns the managed containers matching filter, running or not, oldest
// first. Containers without the managed label are never returned.
func (r *Runtime) List(ctx context.Context, filter Filter) (_ []Container, err error) {
	defer derrors.Wrap(&err, "containers.List(instance %q, run %q)", filter.InstanceID, filter.RunID)
	args := filter.args()
	var summaries []container.Summary
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		summaries, err = r.client.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(summaries))
	for _, s := range summaries {
		// The daemon applied the filter; checking again costs nothing and
		// keeps "never touch an unlabelled container" independent of it.
		if s.Labels[LabelManaged] != "true" {
			continue
		}
		out = append(out, Container{
			ID:         s.ID,
			RunID:      s.Labels[LabelRunID],
			InstanceID: s.Labels[LabelInstanceID],
			State:      string(s.State),
			CreatedAt:  time.Unix(s.Created, 0).UTC(),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Reap removes, with at most Config.ReapConcurrency removals at once, every
// managed container for which keep returns false, and returns those it
// removed. keep is called on the calling goroutine, once per container, and
// sees managed containers only, of every instance; deciding
// (this instance's live runs, other live instances) is the caller's job. A
// failed removal does not stop the others; the errors are joined.
func (r *Runtime) Reap(ctx context.Context, keep func(Container) bool) (removed []Container, err error) {
	defer derrors.Wrap(&err, "containers.Reap")
	all, err := r.List(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	var doomed []Container
	for _, c := range all {
		if !keep(c) {
			doomed = append(doomed, c)
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, r.cfg.ReapConcurrency)
		gone = make([]bool, len(doomed))
	)
dispatch:
	for i, c := range doomed {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			errs = append(errs, ctx.Err())
			mu.Unlock()
			break dispatch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.Remove(ctx, c.ID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			gone[i] = true
		}()
	}
	wg.Wait()
	for i, c := range doomed {
		if gone[i] {
			removed = append(removed, c)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("removed %d of %d: %w", len(removed), len(doomed), errors.Join(errs...))
	}
	return removed, nil
}
