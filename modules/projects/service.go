package projects

import (
	"context"
	"errors"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Service holds the ownership rules of projects.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService builds the service.
func NewService(store Store) *Service {
	return &Service{store: store, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Changes is a partial update; nil fields stay as they are.
type Changes struct {
	Name        *string
	Description *string
}

// Create makes a project owned by the caller.
func (s *Service) Create(ctx context.Context, caller identity.Principal, name, description string) (*Project, error) {
	if fields := checkFields(&name, &description); len(fields) > 0 {
		return nil, derrors.Validation(fields...)
	}
	now := s.now()
	p := &Project{ID: ids.New(IDPrefix), OwnerID: caller.ID, Name: name, Description: description,
		CreatedAt: now, UpdatedAt: now}
	if err := s.store.Create(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

func checkFields(name, description *string) []derrors.FieldError {
	var f []derrors.FieldError
	if name != nil {
		if r := checkName(*name); r != "" {
			f = append(f, derrors.FieldError{Field: "name", Reason: r})
		}
	}
	if description != nil {
		if r := checkDescription(*description); r != "" {
			f = append(f, derrors.FieldError{Field: "description", Reason: r})
		}
	}
	return f
}

// Get returns a project the caller may see; anyone else's is not found.
func (s *Service) Get(ctx context.Context, caller identity.Principal, id string) (*Project, error) {
	if !ids.Valid(IDPrefix, id) {
		return nil, derrors.NotFound("project", id)
	}
	p, err := s.store.Get(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("project", id)
	}
	if err != nil {
		return nil, err
	}
	if !visible(caller, p) {
		return nil, derrors.NotFound("project", id)
	}
	return p, nil
}

// visible reports whether caller may see p: its owner, operators and root.
func visible(caller identity.Principal, p *Project) bool {
	return p.OwnerID == caller.ID || caller.IsOperator()
}

// checkWrite allows the owner and root to change a project; an operator who
// may see it but not own it is told which group it would take.
func checkWrite(caller identity.Principal, p *Project) error {
	if p.OwnerID == caller.ID || caller.Has(identity.GroupRoot) {
		return nil
	}
	return derrors.Forbidden(identity.GroupRoot)
}

// Update changes a project's name or description.
func (s *Service) Update(ctx context.Context, caller identity.Principal, id string, ch Changes) (*Project, error) {
	if fields := checkFields(ch.Name, ch.Description); len(fields) > 0 {
		return nil, derrors.Validation(fields...)
	}
	if !ids.Valid(IDPrefix, id) {
		return nil, derrors.NotFound("project", id)
	}
	// Visibility and the right to change are checked on the record the
	// update locks: one read, and no window between check and write.
	p, err := s.store.Update(ctx, id, func(p *Project) error {
		if !visible(caller, p) {
			return derrors.NotFound("project", id)
		}
		if err := checkWrite(caller, p); err != nil {
			return err
		}
		if ch.Name != nil {
			p.Name = *ch.Name
		}
		if ch.Description != nil {
			p.Description = *ch.Description
		}
		p.UpdatedAt = s.now()
		return nil
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("project", id)
	}
	return p, err
}

// Delete removes a project with its repositories and runs.
func (s *Service) Delete(ctx context.Context, caller identity.Principal, id string) error {
	p, err := s.Get(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := checkWrite(caller, p); err != nil {
		return err
	}
	err = s.store.Delete(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return derrors.NotFound("project", id)
	}
	return err
}

// List pages through the caller's projects, or every project when all is set
// by an operator.
func (s *Service) List(ctx context.Context, caller identity.Principal, all bool, req page.Request) (page.Result[Project], error) {
	owner := caller.ID
	if all {
		if !caller.IsOperator() {
			return page.Result[Project]{}, derrors.Forbidden(identity.GroupOperator)
		}
		owner = ""
	}
	return s.store.List(ctx, owner, req)
}
