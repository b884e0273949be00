// Package apidocs serves the OpenAPI document of every route the server has,
// built at start from the same Operation values that registered them, so the
// document cannot drift from the code; and /docs, which renders it with
// assets served from the binary.
package apidocs

import (
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/openapi"
)

// SpecPath is where the document is served.
const SpecPath = "/v1/openapi.json"

// TagDescriptions describe the tags the modules' operations carry. Redocly's
// recommended ruleset warns about a tag that has none, and the contract test
// (app/apptest/tsclient) fails on that warning.
var TagDescriptions = map[string]string{
	"admin":        "Operators' and root's administration: managed containers, users and their groups.",
	"auth":         "Sign-up, login (custom auth mode only) and the current user.",
	"docs":         "This OpenAPI document and the page that renders it.",
	"health":       "Liveness and readiness probes.",
	"projects":     "Projects: what repositories and runs belong to; owned by the user who made them.",
	"repositories": "Git repositories of a project, which runs clone.",
	"runs":         "Coding-agent runs on a repository: queue, follow the log, cancel, fetch the patch.",
	"secrets":      "A project's secrets: write-only values its runs get as environment variables, masked in their logs.",
}

// Module registers the document and docs routes on the server.
var Module = fx.Module("apidocs", fx.Invoke(Register))

// Register builds the document from every operation of s (these three
// included) and serves it.
func Register(s *httpserver.Server) error {
	var spec fiber.Handler // set once the document is built, before the server starts
	serveSpec := func() httpserver.Operation {
		h := func(c *fiber.Ctx) error { return spec(c) }
		return httpserver.Operation{Method: http.MethodGet, Path: "/openapi.json", ID: "getOpenAPI", Tags: []string{"docs"},
			Summary:   "This OpenAPI 3.1 document",
			Responses: []httpserver.Response{{Status: 200, Body: map[string]any{}, Description: "the OpenAPI document"}},
			Handler:   h}
	}
	ops := []httpserver.Operation{
		serveSpec(),
		{Method: http.MethodGet, Path: "/docs", Unversioned: true, ID: "getDocs", Tags: []string{"docs"},
			Summary:   "The API reference, rendered from the OpenAPI document",
			Responses: []httpserver.Response{{Status: 200, ContentType: "text/html", Description: "HTML page"}},
			Handler:   openapi.DocsHandler(SpecPath)},
		{Method: http.MethodGet, Path: "/docs/assets/:name", Unversioned: true, ID: "getDocsAsset", Tags: []string{"docs"},
			Summary:   "Scripts and styles of the docs page, served from the binary",
			Responses: []httpserver.Response{{Status: 200, ContentType: "text/javascript", Description: "a script (text/javascript) or stylesheet (text/css)"}},
			Errors:    []derrors.Code{derrors.CodeNotFound},
			Handler:   openapi.AssetsHandler()},
	}
	if err := s.Register(ops...); err != nil {
		return err
	}
	built, err := openapi.Build(openapi.Info{
		Title:       "Slipway API",
		Version:     "1",
		Description: "Projects, repositories and coding-agent runs in isolated containers. Every error has the envelope {schema_version, error{code, message, retryable, details}}; each operation lists the codes it may answer under each status, and details are typed per code.",
		Tags:        TagDescriptions,
	}, s.Operations())
	if err != nil {
		return fmt.Errorf("build OpenAPI document: %w", err)
	}
	spec = openapi.SpecHandler(built)
	return nil
}
