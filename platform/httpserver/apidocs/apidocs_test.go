package apidocs_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

// TestEveryRouteIsDocumented fails when a route Fiber serves is missing from
// /v1/openapi.json (or the document lists one that is not served).
func TestEveryRouteIsDocumented(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, res.Status)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	res.Decode(t, &doc)
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"))

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	served := map[string]bool{}
	for _, r := range a.Server.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	require.NotEmpty(t, served)
	for route := range served {
		require.True(t, documented[route], "route %s is served but missing from the OpenAPI document", route)
	}
	for route := range documented {
		require.True(t, served[route], "route %s is documented but not served", route)
	}
}

func TestDocsPageServedFromBinary(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/docs", "")
	require.Equal(t, http.StatusOK, res.Status)
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")
	require.NotRegexp(t, `(src|href)="https?://`, string(res.Body), "no CDN")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(res.Body), -1) {
		asset := m[1]
		if strings.HasPrefix(asset, "data:") {
			continue
		}
		if !strings.HasPrefix(asset, "/") {
			asset = "/" + asset // relative to /docs, whose base is /
		}
		got := a.Get(asset, "")
		require.Equal(t, http.StatusOK, got.Status, asset)
	}
}
