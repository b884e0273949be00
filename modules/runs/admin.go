package runs

import (
	"context"

	"github.com/slipwayhq/slipway/platform/containers"
)

// Containers lists every managed container on the Docker host.
func (s *Service) Containers(ctx context.Context) ([]containers.Container, error) {
	return s.engine.List(ctx, containers.Filter{})
}

// Cleanup removes the managed containers that belong to no active run. A
// running container of an instance this store never knew (another
// deployment sharing the Docker host) is left alone; stopped ones are
// removed.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	active, err := s.store.ListStatus(ctx, ActiveStatuses...)
	if err != nil {
		return 0, err
	}
	instances, err := s.store.Instances(ctx)
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	for _, r := range active {
		live[r.ID] = true
	}
	known := map[string]bool{}
	for _, in := range instances {
		known[in.ID] = true
	}
	removed, err := s.engine.Reap(ctx, func(c containers.Container) bool {
		return live[c.RunID] || (c.Running() && !known[c.InstanceID])
	})
	return len(removed), err
}
