package httpserver

import "go.uber.org/fx"

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
