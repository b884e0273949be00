package projects

import (
	"context"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/identity"
)

var _ access.Projects = (*Service)(nil)

// VisibleProject implements access.Projects.
func (s *Service) VisibleProject(ctx context.Context, caller identity.Principal, id string) (string, error) {
	p, err := s.Get(ctx, caller, id)
	if err != nil {
		return "", err
	}
	return p.OwnerID, nil
}

// WritableProject implements access.Projects.
func (s *Service) WritableProject(ctx context.Context, caller identity.Principal, id string) (string, error) {
	p, err := s.Get(ctx, caller, id)
	if err != nil {
		return "", err
	}
	if err := checkWrite(caller, p); err != nil {
		return "", err
	}
	return p.OwnerID, nil
}
