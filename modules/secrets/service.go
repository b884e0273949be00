package secrets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Service holds the rules of secrets: who may write, delete and list them
// (through their project), which names and values are valid, how many a
// project may have, and the encryption.
type Service struct {
	store    Store
	projects access.Projects
	keys     *Keyring
	log      *zap.Logger
	now      func() time.Time
}

// NewService builds the service.
func NewService(store Store, projects access.Projects, keys *Keyring, log *zap.Logger) *Service {
	return &Service{store: store, projects: projects, keys: keys, log: log.Named("secrets"),
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Put creates the project's secret name with value, or replaces its value,
// for the project's owner or root. The value is sealed before it reaches
// the store and is never logged: the log line names the project, the
// secret and the user.
func (s *Service) Put(ctx context.Context, caller identity.Principal, projectID, name, value string) error {
	var fields []derrors.FieldError
	if r := checkName(name); r != "" {
		fields = append(fields, derrors.FieldError{Field: "name", Reason: r})
	}
	if r := checkValue(value); r != "" {
		fields = append(fields, derrors.FieldError{Field: "value", Reason: r})
	}
	if len(fields) > 0 {
		return derrors.Validation(fields...)
	}
	if _, err := s.projects.WritableProject(ctx, caller, projectID); err != nil {
		return err
	}
	keyID, sealed, err := s.keys.seal(projectID, name, []byte(value))
	if err != nil {
		return err
	}
	now := s.now()
	sec := &Secret{ID: ids.New(IDPrefix), ProjectID: projectID, Name: name, KeyID: keyID, Ciphertext: sealed,
		CreatedAt: now, UpdatedAt: now}
	admit := func(others Usage) error {
		if others.Count >= MaxPerProject {
			return derrors.InvalidField("name", fmt.Sprintf("the project already has %d secrets, the most it may have; delete one first", MaxPerProject))
		}
		if total := others.CiphertextBytes - others.Count*Overhead + len(value); total > MaxProjectBytes {
			return derrors.InvalidField("value", fmt.Sprintf("the project's secrets would hold %d bytes together, more than the %d a run's environment may take", total, MaxProjectBytes))
		}
		return nil
	}
	var created bool
	// A project deleted since the check above makes the store refuse the
	// insert: the caller learns the project is gone, and nothing is left.
	if err := storage.CreateChild("project", projectID, func() (err error) {
		created, err = s.store.Put(ctx, sec, admit)
		return err
	}); err != nil {
		return err
	}
	s.log.Info("secret written", zap.String("project_id", projectID), zap.String("name", name),
		zap.String("user_id", caller.ID), zap.Bool("created", created), zap.String("key_id", keyID))
	return nil
}

// Delete removes the project's secret name, for the project's owner or root.
func (s *Service) Delete(ctx context.Context, caller identity.Principal, projectID, name string) error {
	if _, err := s.projects.WritableProject(ctx, caller, projectID); err != nil {
		return err
	}
	if checkName(name) != "" {
		return derrors.NotFound("secret", name) // no such secret can exist
	}
	err := s.store.Delete(ctx, projectID, name)
	if errors.Is(err, derrors.ErrNotFound) {
		return derrors.NotFound("secret", name)
	}
	if err != nil {
		return err
	}
	s.log.Info("secret deleted", zap.String("project_id", projectID), zap.String("name", name),
		zap.String("user_id", caller.ID))
	return nil
}

// List pages through the secrets of a project the caller may see: names
// and times, for its owner, operators and root.
func (s *Service) List(ctx context.Context, caller identity.Principal, projectID string, req page.Request) (page.Result[Secret], error) {
	if _, err := s.projects.VisibleProject(ctx, caller, projectID); err != nil {
		return page.Result[Secret]{}, err
	}
	return s.store.List(ctx, projectID, req)
}

var _ access.Secrets = (*Service)(nil)

// RunSecrets implements access.Secrets: a project's secrets, decrypted.
// An error names the secret that failed, never its value.
func (s *Service) RunSecrets(ctx context.Context, projectID string) ([]access.Secret, error) {
	all, err := s.store.All(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := make([]access.Secret, 0, len(all))
	for _, sec := range all {
		value, err := s.keys.open(sec.KeyID, sec.ProjectID, sec.Name, sec.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("secret %s of project %s (key %s): %w", sec.Name, sec.ProjectID, sec.KeyID, err)
		}
		out = append(out, access.Secret{Name: sec.Name, Value: string(value)})
	}
	return out, nil
}
