package repositories

import (
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Module provides the repositories Service (also as access.Repositories),
// its URL policy and its routes. It needs access.Projects.
var Module = fx.Module("repositories",
	fx.Provide(fx.Private, NewStore),
	fx.Provide(
		NewURLPolicy,
		NewService,
		func(s *Service) access.Repositories { return s },
		httpserver.AsRegistrar(NewRoutes),
	),
)

// NewStore returns the Store for the configured records backend.
func NewStore(r *storage.Records) (Store, error) {
	return storage.Select(r, newJSONStore, newPostgresStore)
}
