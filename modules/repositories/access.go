package repositories

import (
	"context"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/identity"
)

var _ access.Repositories = (*Service)(nil)

// VisibleRepository implements access.Repositories.
func (s *Service) VisibleRepository(ctx context.Context, caller identity.Principal, id string) (access.Repository, error) {
	r, owner, err := s.find(ctx, caller, id, false)
	if err != nil {
		return access.Repository{}, err
	}
	return shared(r, owner), nil
}

// WritableRepository implements access.Repositories.
func (s *Service) WritableRepository(ctx context.Context, caller identity.Principal, id string) (access.Repository, error) {
	r, owner, err := s.find(ctx, caller, id, true)
	if err != nil {
		return access.Repository{}, err
	}
	return shared(r, owner), nil
}

func shared(r *Repository, owner string) access.Repository {
	return access.Repository{ID: r.ID, ProjectID: r.ProjectID, OwnerID: owner, URL: r.URL, DefaultBranch: r.DefaultBranch}
}
