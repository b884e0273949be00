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

// TestErrorCodesPerOperation reads, from the served document, the codes a few
// operations list under each error status: their own, the ones their shape
// implies, and no 503 for operations that touch no dependency.
func TestErrorCodesPerOperation(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, res.Status)
	doc := res.JSON(t)
	get := func(v any, path ...string) any {
		t.Helper()
		for _, p := range path {
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v at %s", path, p)
			v = m[p]
		}
		return v
	}
	codes := func(path, method string) map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for status, r := range get(doc, "paths", path, method, "responses").(map[string]any) {
			if status < "400" {
				continue
			}
			schema := get(r, "content", "application/json", "schema", "properties", "error").(map[string]any)
			if ref, ok := schema["$ref"].(string); ok {
				schema = get(doc, "components", "schemas", strings.TrimPrefix(ref, "#/components/schemas/")).(map[string]any)
			}
			for _, c := range get(schema, "properties", "code", "enum").([]any) {
				out[status] = append(out[status], c.(string))
			}
		}
		return out
	}
	body := map[string][]string{"400": {"invalid_json"}, "413": {"payload_too_large"}, "415": {"unsupported_media_type"}, "422": {"validation_error"}}
	with := func(base map[string][]string, more map[string][]string) map[string][]string {
		out := map[string][]string{"431": {"headers_too_large"}, "500": {"internal_error"}}
		for _, m := range []map[string][]string{base, more} {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	authed := map[string][]string{"401": {"invalid_token"}, "503": {"service_unavailable"}}
	for _, tc := range []struct {
		path, method string
		want         map[string][]string
	}{
		{"/healthz", "get", with(nil, nil)},
		{"/docs", "get", with(nil, nil)},
		{"/readyz", "get", with(nil, map[string][]string{"503": {"not_ready"}})},
		{"/v1/auth/signup", "post", with(body, map[string][]string{"403": {"signup_disabled"}, "409": {"email_taken"}, "429": {"rate_limited"}, "503": {"service_unavailable"}})},
		{"/v1/auth/login", "post", with(body, map[string][]string{"401": {"invalid_credentials"}, "429": {"rate_limited"}, "503": {"service_unavailable"}})},
		{"/v1/auth/me", "get", with(authed, nil)},
		{"/v1/runs/{run_id}/cancel", "post", with(authed, map[string][]string{"403": {"forbidden"}, "404": {"not_found"}, "409": {"run_finished"}})},
		{"/v1/admin/containers", "get", with(authed, map[string][]string{"403": {"forbidden"}})},
		{"/v1/repositories/{repository_id}/runs", "post", with(authed, map[string][]string{
			"400": {"invalid_json"}, "403": {"forbidden"}, "404": {"not_found"}, "409": {"conflict"}, "413": {"payload_too_large"},
			"415": {"unsupported_media_type"}, "422": {"validation_error"}, "429": {"quota_exceeded"}})},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			require.Equal(t, tc.want, codes(tc.path, tc.method))
		})
	}
}
