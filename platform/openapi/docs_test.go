package openapi_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/openapi"
)

// get runs one request through app and returns the response and its body.
func get(t *testing.T, app *fiber.App, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func docsApp(t *testing.T, prefix string) *fiber.App {
	t.Helper()
	app := fiber.New()
	doc, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	app.Get("/v1/openapi.json", openapi.SpecHandler(doc))
	openapi.Mount(app, prefix, "/v1/openapi.json")
	return app
}

var linkAttr = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestDocsPage(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, page string
	}{
		{"docs", "/docs", "/docs"},
		{"docs with trailing slash", "/docs", "/docs/"},
		{"nested prefix", "/api/reference", "/api/reference"},
		{"root", "/", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := docsApp(t, tc.prefix)
			resp, body := get(t, app, tc.page)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Equal(t, openapi.DocsCSP, resp.Header.Get("Content-Security-Policy"))
			require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			require.NotRegexp(t, `(?i)https?:`, string(body), "the page must load nothing from another origin")
			require.NotContains(t, string(body), "//", "no protocol-relative URL either")
			require.Contains(t, string(body), `data-spec-url="/v1/openapi.json"`)
			require.NotRegexp(t, `<script>|<script [^>]*>[^<]`, string(body), "no inline script")
			require.NotContains(t, string(body), "style=", "no inline style")

			// Every URL in the page is relative and answered by the app.
			pageURL, err := url.Parse("http://127.0.0.1" + tc.page)
			require.NoError(t, err)
			want := map[string]string{
				"swagger-ui.css":       "text/css; charset=utf-8",
				"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
				"docs.js":              "text/javascript; charset=utf-8",
			}
			for _, m := range linkAttr.FindAllStringSubmatch(string(body), -1) {
				ref, err := url.Parse(m[1])
				require.NoError(t, err)
				if ref.Scheme == "data" {
					continue
				}
				require.Empty(t, ref.Host, m[1])
				abs := pageURL.ResolveReference(ref)
				resp, body := get(t, app, abs.RequestURI())
				require.Equal(t, http.StatusOK, resp.StatusCode, abs.RequestURI())
				require.NotEmpty(t, body)
				if ct, ok := want[pathBase(abs.Path)]; ok {
					require.Equal(t, ct, resp.Header.Get("Content-Type"), abs.RequestURI())
					delete(want, pathBase(abs.Path))
				}
			}
			require.Empty(t, want, "assets the page does not load")
		})
	}
}

func pathBase(p string) string { return p[strings.LastIndex(p, "/")+1:] }

func TestDocsPageEscapesSpecURL(t *testing.T) {
	app := fiber.New()
	app.Get("/docs", openapi.DocsHandler(`/v1/openapi.json?x="><script>alert(1)</script>`))
	_, body := get(t, app, "/docs")
	require.NotContains(t, string(body), "<script>alert")
	require.Contains(t, string(body), `data-spec-url="/v1/openapi.json?x=%22%3e%3cscript%3ealert%281%29%3c/script%3e"`)
}

func TestDocsHandlerRefusesOtherOrigins(t *testing.T) {
	for _, spec := range []string{"", "https://example.com/openapi.json", "//example.com/openapi.json", "javascript:alert(1)", "http://127.0.0.1/x"} {
		t.Run(spec, func(t *testing.T) {
			require.Panics(t, func() { openapi.DocsHandler(spec) })
		})
	}
	require.NotPanics(t, func() { openapi.DocsHandler("openapi.json") })
}

func TestAssets(t *testing.T) {
	app := docsApp(t, "/docs")
	for _, tc := range []struct {
		name, contentType string
	}{
		{"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
		{"swagger-ui.css", "text/css; charset=utf-8"},
		{"docs.js", "text/javascript; charset=utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, err := os.ReadFile("ui/" + tc.name)
			require.NoError(t, err)
			target := "/docs/assets/" + tc.name + "?v=anything"

			resp, body := get(t, app, target)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, tc.contentType, resp.Header.Get("Content-Type"))
			require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			require.Empty(t, resp.Header.Get("Content-Encoding"))
			require.Equal(t, file, body)
			etag := resp.Header.Get("ETag")
			require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)

			resp, body = get(t, app, target, "Accept-Encoding", "br, gzip")
			require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
			require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
			require.Less(t, len(body), len(file))
			zr, err := gzip.NewReader(bytes.NewReader(body))
			require.NoError(t, err)
			plain, err := io.ReadAll(zr)
			require.NoError(t, err)
			require.Equal(t, file, plain)

			resp, body = get(t, app, target, "Accept-Encoding", "gzip;q=0")
			require.Empty(t, resp.Header.Get("Content-Encoding"))
			require.Equal(t, file, body)

			resp, body = get(t, app, target, "If-None-Match", `W/"other", `+etag)
			require.Equal(t, http.StatusNotModified, resp.StatusCode)
			require.Empty(t, body)
		})
	}
	for _, target := range []string{"/docs/assets/docs.html", "/docs/assets/LICENSE", "/docs/assets/..%2Fdocs.go", "/docs/assets/nope.js"} {
		t.Run(target, func(t *testing.T) {
			resp, _ := get(t, app, target)
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
		})
	}
}

func TestSpecHandler(t *testing.T) {
	doc, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	app := fiber.New()
	app.Get("/v1/openapi.json", openapi.SpecHandler(doc))

	resp, body := get(t, app, "/v1/openapi.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, doc, body)

	resp, body = get(t, app, "/v1/openapi.json", "If-None-Match", resp.Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)
}

// TestVendoredVersion keeps SwaggerUIVersion, the bundle and ui/README.md
// in step when Swagger UI is upgraded.
func TestVendoredVersion(t *testing.T) {
	bundle, err := os.ReadFile("ui/swagger-ui-bundle.js")
	require.NoError(t, err)
	require.Contains(t, string(bundle), `PACKAGE_VERSION:"`+openapi.SwaggerUIVersion+`"`)
	readme, err := os.ReadFile("ui/README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "swagger-ui-dist@"+openapi.SwaggerUIVersion)
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css"} {
		body, err := os.ReadFile("ui/" + name)
		require.NoError(t, err)
		sum := sha256.Sum256(body)
		require.Contains(t, string(readme), hex.EncodeToString(sum[:]), "ui/%s differs from the file README.md records", name)
	}
}
