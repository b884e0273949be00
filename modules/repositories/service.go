package repositories

import (
	"context"
	"errors"
	"time"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/workspace"
)

// Service holds the rules of repositories: who may see and change them
// (through their project) and which values are valid.
type Service struct {
	store    Store
	projects access.Projects
	urls     *URLPolicy
	now      func() time.Time
}

// NewService builds the service.
func NewService(store Store, projects access.Projects, urls *URLPolicy) *Service {
	return &Service{store: store, projects: projects, urls: urls,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Input is a new repository. An empty Name is taken from the URL's last path
// segment; an empty DefaultBranch means the remote's default branch.
type Input struct {
	URL           string
	Name          *string
	DefaultBranch string
}

// Changes is a partial update; nil fields stay as they are. An empty
// DefaultBranch resets it to the remote's default branch.
type Changes struct {
	Name          *string
	URL           *string
	DefaultBranch *string
}

// Create adds a repository to a project the caller may change.
func (s *Service) Create(ctx context.Context, caller identity.Principal, projectID string, in Input) (*Repository, error) {
	var fields []derrors.FieldError
	target, reason := s.checkURLSyntax(in.URL)
	if reason != "" {
		fields = append(fields, derrors.FieldError{Field: "url", Reason: reason})
	}
	var name string
	switch {
	case in.Name != nil:
		name = *in.Name
		if r := checkName(name); r != "" {
			fields = append(fields, derrors.FieldError{Field: "name", Reason: r})
		}
	case reason == "":
		name = nameFromURL(target)
		if r := checkName(name); r != "" {
			fields = append(fields, derrors.FieldError{Field: "name",
				Reason: "could not be taken from the url (it " + r + "); send a name"})
		}
	}
	if r := workspace.CheckBranch(in.DefaultBranch); r != "" {
		fields = append(fields, derrors.FieldError{Field: "default_branch", Reason: r})
	}
	if len(fields) > 0 {
		return nil, derrors.Validation(fields...)
	}
	if _, err := s.projects.WritableProject(ctx, caller, projectID); err != nil {
		return nil, err
	}
	if err := s.checkHost(ctx, target); err != nil {
		return nil, err
	}
	now := s.now()
	r := &Repository{ID: ids.New(IDPrefix), ProjectID: projectID, Name: name, URL: in.URL,
		DefaultBranch: in.DefaultBranch, CreatedAt: now, UpdatedAt: now}
	// A project deleted since the check above makes the store refuse the
	// insert: the caller learns the project is gone, and nothing is left.
	if err := storage.CreateChild("project", projectID, func() error { return s.store.Create(ctx, r) }); err != nil {
		return nil, err
	}
	return r, nil
}

// checkURLSyntax checks a URL without I/O, returning its parts or the reason
// it is refused.
func (s *Service) checkURLSyntax(rawURL string) (remote, string) {
	target, err := s.urls.parse(rawURL)
	var ue *URLError
	if errors.As(err, &ue) {
		return remote{}, ue.Reason
	}
	return target, ""
}

// checkHost applies the network rule, as a validation error on url.
func (s *Service) checkHost(ctx context.Context, target remote) error {
	err := s.urls.checkHost(ctx, target.host)
	var ue *URLError
	if errors.As(err, &ue) {
		return derrors.InvalidField("url", ue.Reason)
	}
	return err
}

// CheckURL implements access.Repositories: the reason the configured
// policy refuses rawURL now, or the addresses it checked for the URL's host;
// an error when it cannot tell (an outage of DNS). The runs module calls it
// right before cloning, as a host may resolve elsewhere by then, and pins
// the clone to the addresses.
func (s *Service) CheckURL(ctx context.Context, rawURL string) (access.URLCheck, error) {
	addrs, err := s.urls.Resolve(ctx, rawURL)
	var ue *URLError
	if errors.As(err, &ue) {
		return access.URLCheck{Refusal: ue.Reason}, nil
	}
	if err != nil {
		return access.URLCheck{}, err
	}
	return access.URLCheck{Addrs: addrs}, nil
}

// find returns a repository whose project the caller may see (write: may
// change), with the project's owner; anyone else gets not found.
func (s *Service) find(ctx context.Context, caller identity.Principal, id string, write bool) (*Repository, string, error) {
	if !ids.Valid(IDPrefix, id) {
		return nil, "", derrors.NotFound("repository", id)
	}
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, "", derrors.NotFound("repository", id)
	}
	if err != nil {
		return nil, "", err
	}
	check := s.projects.VisibleProject
	if write {
		check = s.projects.WritableProject
	}
	owner, err := check(ctx, caller, r.ProjectID)
	if errors.Is(err, derrors.ErrNotFound) {
		// Not the project's id: the caller asked for a repository.
		return nil, "", derrors.NotFound("repository", id)
	}
	if err != nil {
		return nil, "", err
	}
	return r, owner, nil
}

// Get returns a repository the caller may see.
func (s *Service) Get(ctx context.Context, caller identity.Principal, id string) (*Repository, error) {
	r, _, err := s.find(ctx, caller, id, false)
	return r, err
}

// List pages through the repositories of a project the caller may see.
func (s *Service) List(ctx context.Context, caller identity.Principal, projectID string, req page.Request) (page.Result[Repository], error) {
	if _, err := s.projects.VisibleProject(ctx, caller, projectID); err != nil {
		return page.Result[Repository]{}, err
	}
	return s.store.List(ctx, projectID, req)
}

// Update changes a repository's name, URL or default branch.
func (s *Service) Update(ctx context.Context, caller identity.Principal, id string, ch Changes) (*Repository, error) {
	var fields []derrors.FieldError
	var target remote
	if ch.URL != nil {
		var reason string
		if target, reason = s.checkURLSyntax(*ch.URL); reason != "" {
			fields = append(fields, derrors.FieldError{Field: "url", Reason: reason})
		}
	}
	if ch.Name != nil {
		if r := checkName(*ch.Name); r != "" {
			fields = append(fields, derrors.FieldError{Field: "name", Reason: r})
		}
	}
	if ch.DefaultBranch != nil {
		if r := workspace.CheckBranch(*ch.DefaultBranch); r != "" {
			fields = append(fields, derrors.FieldError{Field: "default_branch", Reason: r})
		}
	}
	if len(fields) > 0 {
		return nil, derrors.Validation(fields...)
	}
	if !ids.Valid(IDPrefix, id) {
		return nil, derrors.NotFound("repository", id)
	}
	if ch.URL != nil {
		// The host check looks names up: never inside the locked write.
		if err := s.checkHost(ctx, target); err != nil {
			return nil, err
		}
	}
	// Whether the caller may change it is checked on the record the update
	// locks: one read of the repository, and no window between check and write.
	r, err := s.store.Update(ctx, id, func(r *Repository) error {
		if _, err := s.projects.WritableProject(ctx, caller, r.ProjectID); err != nil {
			if errors.Is(err, derrors.ErrNotFound) {
				return derrors.NotFound("repository", id) // not the project's id: the caller asked for a repository
			}
			return err
		}
		if ch.Name != nil {
			r.Name = *ch.Name
		}
		if ch.URL != nil {
			r.URL = *ch.URL
		}
		if ch.DefaultBranch != nil {
			r.DefaultBranch = *ch.DefaultBranch
		}
		r.UpdatedAt = s.now()
		return nil
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("repository", id)
	}
	return r, err
}

// Delete removes a repository of a project the caller may change. Its runs
// go with it: PostgreSQL's foreign keys delete them, and on the JSON store
// the runs module sweeps runs whose repository no longer exists.
func (s *Service) Delete(ctx context.Context, caller identity.Principal, id string) error {
	if _, _, err := s.find(ctx, caller, id, true); err != nil {
		return err
	}
	err := s.store.Delete(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return derrors.NotFound("repository", id)
	}
	return err
}
