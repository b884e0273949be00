package secrets

import (
	"context"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Usage is what a project's secrets take, apart from the one being written.
type Usage struct {
	Count           int
	CiphertextBytes int
}

// Store keeps secrets. Implementations: store_json.go, store_postgres.go.
// Every backend deletes a project's secrets with the project, in the same
// transaction: PostgreSQL by its foreign key, the JSON store by the
// project_id index's reference to the projects collection.
type Store interface {
	// Put creates the project's secret s.Name, or replaces the key id,
	// ciphertext and update time of the one that exists (which keeps its
	// id and creation time), and reports which. Before writing, under the
	// same lock as the write, it calls admit with the usage of the
	// project's other secrets: admit's error aborts the write and is
	// returned as it is, so no two concurrent Puts can together exceed a
	// limit admit enforces. A missing project is derrors.MissingParent on
	// "secrets.project_id".
	Put(ctx context.Context, s *Secret, admit func(others Usage) error) (created bool, err error)
	// Get returns the project's secret name, or derrors.ErrNotFound.
	Get(ctx context.Context, projectID, name string) (*Secret, error)
	// Delete removes the project's secret name; derrors.ErrNotFound when
	// absent.
	Delete(ctx context.Context, projectID, name string) error
	// List pages by (created_at, id) through one project's secrets.
	List(ctx context.Context, projectID string, req page.Request) (page.Result[Secret], error)
	// All returns every secret of one project, in (created_at, id) order.
	All(ctx context.Context, projectID string) ([]Secret, error)
}
