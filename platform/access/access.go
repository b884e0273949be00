// Package access holds the small interfaces one domain module implements and
// another consumes, so that domains never import each other: projects answers
// "may this caller use this project", repositories answers the same for a
// repository, secrets hands a project's secrets to the run worker. The
// owner's module provides each with a one-line adapter constructor,
// fx.Provide(func(s *Service) access.Projects { return s }), and the
// consumer takes the interface as a constructor parameter.
//
// Callers pass ids as they got them: the owner checks their shape (it
// alone knows its id prefix), so junk is answered like a missing record.
package access

import (
	"context"
	"encoding/json"
	"net/netip"

	"github.com/slipwayhq/slipway/platform/identity"
)

// Projects is implemented by the projects module.
type Projects interface {
	// VisibleProject returns the owner of a project the caller may see, or
	// a derrors not_found for anyone else (and for a missing project or
	// an id that is not a project id).
	VisibleProject(ctx context.Context, caller identity.Principal, projectID string) (ownerID string, err error)
	// WritableProject is VisibleProject for changes: the owner or root; a
	// caller who may only read it gets 403.
	WritableProject(ctx context.Context, caller identity.Principal, projectID string) (ownerID string, err error)
}

// Repository is what other domains know about a repository.
type Repository struct {
	ID            string
	ProjectID     string
	OwnerID       string // the owner of its project
	URL           string
	DefaultBranch string
}

// Repositories is implemented by the repositories module.
type Repositories interface {
	// VisibleRepository returns a repository the caller may see, or a
	// derrors not_found (also for an id that is not a repository id).
	VisibleRepository(ctx context.Context, caller identity.Principal, repositoryID string) (Repository, error)
	// WritableRepository is VisibleRepository for starting runs and changes.
	WritableRepository(ctx context.Context, caller identity.Principal, repositoryID string) (Repository, error)
	// CheckURL applies the URL policy to rawURL now. A refusal is not an
	// error but URLCheck.Refusal; err means no verdict could be reached
	// (derrors.ErrUnavailable when the host's name servers do not answer).
	// Runs call it right before cloning: the host a name resolves to may
	// have changed since the repository was registered.
	CheckURL(ctx context.Context, rawURL string) (URLCheck, error)
}

// URLCheck is the URL policy's verdict on a repository URL about to be
// cloned.
type URLCheck struct {
	// Refusal says why the policy refuses the URL, in a phrase fit for the
	// user that never repeats the URL nor an address it resolves to; "" when
	// the URL may be cloned.
	Refusal string
	// Addrs are the addresses the policy resolved the URL's host to and
	// checked, the only ones a clone may connect to: pass them to
	// workspace.Prepare with workspace.Pin. Empty for local URLs.
	Addrs []netip.Addr
}

// Secrets is implemented by the secrets module.
type Secrets interface {
	// RunSecrets returns every secret of a project, decrypted, for the
	// environment of a run's container and the masking of its log. The
	// caller is the run worker, which has already decided the run may
	// start; nothing here checks a user. A secret that cannot be
	// decrypted (its key is no longer configured) is an error naming it.
	RunSecrets(ctx context.Context, projectID string) ([]Secret, error)
}

// Secret is one decrypted project secret. Its String, GoString and JSON
// forms hide the value, so a careless log call or error cannot show it.
type Secret struct {
	Name  string
	Value string
}

const hiddenValue = "[hidden]"

// String shows the name and hides the value.
func (s Secret) String() string { return s.Name + "=" + hiddenValue }

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON hides the value, as zap's reflection encoder and
// encoding/json would otherwise write it.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"name": s.Name, "value": hiddenValue})
}
