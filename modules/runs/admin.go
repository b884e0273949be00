package runs

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/derrors"
)

// Containers lists every managed container on the Docker host.
func (s *Service) Containers(ctx context.Context) ([]containers.Container, error) {
	return s.engine.List(ctx, containers.Filter{})
}

// Cleanup removes the managed containers that no instance may still need,
// and returns how many it removed. The instance that works a run reads the
// container's log and the patch, removes the container, and only then
// records the run's final status; so a container is removed when:
//
//   - its run is terminal in the records store (its owner is done with it,
//     and only a failed removal left it behind), or
//   - its run no longer exists (deleted: nobody reads its log) and its
//     instance is one of this deployment's (in the records store).
//
// Everything else stays, stopped or not: a container of a queued, preparing
// or running run may have just exited with its log still unread by the
// owner (possibly another instance), and a container whose run and instance
// are both unknown belongs to another deployment sharing the Docker host.
// Containers of instances that died are the heartbeat's sweep's job: it
// marks their runs interrupted first.
//
// The records are read after the containers are listed (Reap lists, then
// asks keep), so a container always meets a record at least as new as its
// own creation: a run that starts and exits during the clean-up is seen as
// active, never as missing.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	var lookupErr error
	known := map[string]bool{}    // instance ids of this deployment
	status := map[string]Status{} // run id → status; "" when the run is gone
	instancesRead := false
	keep := func(c containers.Container) bool {
		if lookupErr != nil {
			return true
		}
		st, seen := status[c.RunID]
		if !seen {
			r, err := s.store.Get(ctx, c.RunID)
			switch {
			case errors.Is(err, derrors.ErrNotFound):
			case err != nil:
				lookupErr = fmt.Errorf("run %s: %w", c.RunID, err)
				return true
			default:
				st = r.Status
			}
			status[c.RunID] = st
		}
		switch {
		case st.Terminal():
			return false
		case st != "":
			return true // active: the owner may still need it
		}
		if !instancesRead {
			instances, err := s.store.Instances(ctx)
			if err != nil {
				lookupErr = err
				return true
			}
			for _, in := range instances {
				known[in.ID] = true
			}
			instancesRead = true
		}
		return !known[c.InstanceID]
	}
	removed, err := s.engine.Reap(ctx, keep)
	return len(removed), errors.Join(lookupErr, err)
}
