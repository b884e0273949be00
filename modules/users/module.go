package users

import (
	"context"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Module provides the users Store and Service, the auth PrincipalSource and
// the /v1/auth routes.
var Module = fx.Module("users",
	fx.Invoke(watchChanges),
	fx.Provide(
		fx.Private,
		NewStore,
	),
	fx.Provide(
		NewService,
		func(s *Service) auth.PrincipalSource { return s },
		httpserver.AsRegistrar(NewRoutes),
		httpserver.AsRegistrar(NewAdminRoutes),
	),
)

// NewStore returns the Store for the configured records backend.
func NewStore(r *storage.Records) (Store, error) {
	return storage.Select(r, newJSONStore, newPostgresStore)
}

// watchChanges runs the cache's change watcher for the app's lifetime.
func watchChanges(lc fx.Lifecycle, s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() { defer close(done); s.Watch(ctx) }()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stop.Done():
			}
			return nil
		},
	})
}
