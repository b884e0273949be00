package httpserver

import (
	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"
)

// RoutesGroup is the fx value group tag every Registrar is provided under.
const RoutesGroup = `group:"routes"`

// Registrar is what a module provides to serve routes: the operations it owns.
type Registrar interface {
	Operations() []Operation
}

// RegistrarFunc adapts a function to Registrar.
type RegistrarFunc func() []Operation

// Operations returns f().
func (f RegistrarFunc) Operations() []Operation { return f() }

// AsRegistrar annotates a constructor returning a Registrar so its result
// joins the routes group: fx.Provide(httpserver.AsRegistrar(NewRoutes)).
func AsRegistrar(f any) any {
	return fx.Annotate(f, fx.As(new(Registrar)), fx.ResultTags(RoutesGroup))
}

// Guard turns an access level into the middleware that enforces it. The auth
// module provides it, so this package needs no knowledge of tokens.
type Guard interface {
	Require(Access) fiber.Handler
}
