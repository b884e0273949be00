package secrets

import (
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Module provides the secrets Service (also as access.Secrets, for the run
// worker), its keyring and its routes. It needs access.Projects.
var Module = fx.Module("secrets",
	fx.Provide(fx.Private, NewStore, LoadKeyring),
	fx.Provide(
		NewService,
		func(s *Service) access.Secrets { return s },
		httpserver.AsRegistrar(NewRoutes),
	),
)

// NewStore returns the Store for the configured records backend.
func NewStore(r *storage.Records) (Store, error) {
	return storage.Select(r, newJSONStore, newPostgresStore)
}
