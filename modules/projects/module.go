package projects

import (
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Module provides the projects Service and its routes.
var Module = fx.Module("projects",
	fx.Provide(fx.Private, NewStore),
	fx.Provide(
		NewService,
		func(s *Service) access.Projects { return s },
		httpserver.AsRegistrar(NewRoutes),
	),
)

// NewStore returns the Store for the configured records backend.
func NewStore(r *storage.Records) (Store, error) {
	return storage.Select(r, newJSONStore, newPostgresStore)
}
