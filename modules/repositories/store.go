package repositories

import (
	"context"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Store keeps repositories. Implementations: store_json.go, store_postgres.go.
// Every backend deletes a project's repositories with the project, in the
// same transaction: PostgreSQL by its foreign key, the JSON store by the
// project_id index's reference to the projects collection.
type Store interface {
	// Create adds a repository; a taken id is derrors.ErrConflict, a
	// missing project derrors.MissingParent on "repositories.project_id".
	Create(ctx context.Context, r *Repository) error
	// Get returns the repository or derrors.ErrNotFound.
	Get(ctx context.Context, id string) (*Repository, error)
	// Update applies fn atomically to the current record (no lost update);
	// fn's own error aborts it and is returned as it is.
	Update(ctx context.Context, id string, fn func(*Repository) error) (*Repository, error)
	// Delete removes the repository; derrors.ErrNotFound when absent.
	Delete(ctx context.Context, id string) error
	// List pages by (created_at, id) through one project's repositories.
	List(ctx context.Context, projectID string, req page.Request) (page.Result[Repository], error)
}
