package users

import (
	"context"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Store keeps users. Implementations: store_json.go, store_postgres.go; both
// pass the contract suite in storetest.
type Store interface {
	// Create inserts u; derrors.ErrConflict (what "users.email") when the
	// email is taken, compared case-insensitively.
	Create(ctx context.Context, u *User) error
	// Get returns the user with id, or derrors.ErrNotFound.
	Get(ctx context.Context, id string) (*User, error)
	// GetByEmail returns the user with the normalised email, or ErrNotFound.
	GetByEmail(ctx context.Context, email string) (*User, error)
	// Update applies fn to the current record atomically (no lost update)
	// and stores the result; fn's error aborts the update.
	Update(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// List pages through every user by (created_at, id).
	List(ctx context.Context, req page.Request) (page.Result[User], error)
}
