package httpserver

import "go.uber.org/fx"

// Module provides the *Server and binds it to the app lifecycle.
var Module = fx.Module("httpserver",
	fx.Provide(New, fx.Annotate(NewGuard, fx.As(new(Guard)))),
	fx.Invoke(func(lc fx.Lifecycle, s *Server) {
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
	}),
)
