package projects

import (
	"context"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Store keeps projects. Implementations: store_json.go, store_postgres.go.
type Store interface {
	Create(ctx context.Context, p *Project) error
	// Get returns the project or derrors.ErrNotFound.
	Get(ctx context.Context, id string) (*Project, error)
	// Update applies fn atomically to the current record (no lost update).
	Update(ctx context.Context, id string, fn func(*Project) error) (*Project, error)
	// Delete removes the project and, in the same transaction, what belongs to
	// it (repositories, runs); ErrNotFound when absent.
	Delete(ctx context.Context, id string) error
	// List pages by (created_at, id) through one owner's projects, or every
	// project when ownerID is empty.
	List(ctx context.Context, ownerID string, req page.Request) (page.Result[Project], error)
}
