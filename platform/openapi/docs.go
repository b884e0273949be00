package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// DocsCSP is the Content-Security-Policy DocsHandler sends: scripts and
// styles only from this origin, no inline script or style (the page's own
// start-up code is the embedded docs.js), images from this origin and data:
// URLs (Swagger UI's stylesheet draws its icons with them), and requests,
// the document's and "Try it out"'s, to this origin only.
// TestDocsPageRendersInBrowser checks Swagger UI under it in Chromium.
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// SwaggerUIVersion is the version of swagger-ui-dist vendored in ui/.
const SwaggerUIVersion = "5.35.0"

// Cache-Control values: assets are addressed with a ?v= content hash, so a
// cached copy is never stale; the page and the document are revalidated.
const (
	assetCacheControl   = "public, max-age=31536000, immutable"
	revalidCacheControl = "no-cache"
)

const (
	javascriptType = "text/javascript; charset=utf-8"
	cssType        = "text/css; charset=utf-8"
	htmlType       = "text/html; charset=utf-8"
	// docsAssetsDir is where the page loads its assets from, relative to
	// its own path.
	docsAssetsDir = "assets/"
	docsPageTitle = "API documentation"
)

//go:embed ui/docs.html ui/docs.js ui/swagger-ui-bundle.js ui/swagger-ui.css
var uiFiles embed.FS

// asset is one file the docs page loads.
type asset struct {
	contentType string
	body        []byte
	etag        string // quoted, of the content
	version     string // short content hash for ?v=

	gzipOnce sync.Once
	gzipped  []byte // nil when compression does not pay
}

func newAsset(name, contentType string) *asset {
	body, err := uiFiles.ReadFile("ui/" + name)
	if err != nil {
		// The files are embedded at build time; a missing one is a broken build.
		panic(fmt.Sprintf("openapi: embedded asset %s: %v", name, err))
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	return &asset{contentType: contentType, body: body, etag: `"` + h[:32] + `"`, version: h[:12]}
}

// gzipBody returns the gzip-compressed body, made on first use.
func (a *asset) gzipBody() []byte {
	a.gzipOnce.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
		_, _ = w.Write(a.body)
		if w.Close() == nil && b.Len() < len(a.body) {
			a.gzipped = b.Bytes()
		}
	})
	return a.gzipped
}

// docsAssets returns the files of the docs page by the name it loads them by.
// They are hashed on first use, not at start: hashing the 1.5 MB bundle
// would add milliseconds to every server's startup for a page few load.
var docsAssets = sync.OnceValue(func() map[string]*asset {
	return map[string]*asset{
		"swagger-ui-bundle.js": newAsset("swagger-ui-bundle.js", javascriptType),
		"swagger-ui.css":       newAsset("swagger-ui.css", cssType),
		"docs.js":              newAsset("docs.js", javascriptType),
	}
})

// Mount serves the docs page at prefix and its assets under
// prefix+"/assets/" on r. specURL is the same-origin URL of the document
// (such as "/v1/openapi.json").
func Mount(r fiber.Router, prefix, specURL string) {
	prefix = strings.TrimSuffix(prefix, "/")
	page := prefix
	if page == "" {
		page = "/"
	}
	r.Get(page, DocsHandler(specURL))
	r.Get(prefix+"/assets/:name", AssetsHandler())
}

// DocsHandler serves the HTML page that renders the document at specURL
// with Swagger UI. The page loads its assets from "assets/" under its own
// path (a page at /docs loads /docs/assets/docs.js), where AssetsHandler
// must serve them; Mount registers both. specURL must be same-origin: a
// path, absolute or relative, with no scheme or host; DocsHandler panics on
// any other, as the page's Content-Security-Policy would block it.
func DocsHandler(specURL string) fiber.Handler {
	u, err := url.Parse(specURL)
	if specURL == "" || err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(specURL, "//") {
		panic(fmt.Sprintf("openapi.DocsHandler: spec URL %q is not a same-origin path", specURL))
	}
	tmpl := template.Must(template.ParseFS(uiFiles, "ui/docs.html"))
	type page struct {
		Title, SpecURL, Assets                 string
		CSSVersion, BundleVersion, InitVersion string
	}
	return func(c *fiber.Ctx) error {
		// Relative asset URLs keep the page working behind a proxy that
		// mounts the API under a prefix: from "/docs" they must name the
		// last segment again, from "/docs/" they need not.
		base := docsAssetsDir
		if p := c.Path(); !strings.HasSuffix(p, "/") {
			base = url.PathEscape(path.Base(p)) + "/" + docsAssetsDir
		}
		assets := docsAssets()
		var b bytes.Buffer
		if err := tmpl.Execute(&b, page{
			Title:         docsPageTitle,
			SpecURL:       specURL,
			Assets:        base,
			CSSVersion:    assets["swagger-ui.css"].version,
			BundleVersion: assets["swagger-ui-bundle.js"].version,
			InitVersion:   assets["docs.js"].version,
		}); err != nil {
			return fmt.Errorf("render docs page: %w", err)
		}
		c.Set(fiber.HeaderContentType, htmlType)
		c.Set(fiber.HeaderContentSecurityPolicy, DocsCSP)
		c.Set(fiber.HeaderCacheControl, revalidCacheControl)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		return c.Send(b.Bytes())
	}
}

// AssetsHandler serves the docs page's scripts and styles from the binary,
// choosing the file by the last segment of the request path; any other name
// is a 404 (fiber.ErrNotFound, for the error handler). Assets are cached for
// a year, since the page addresses them by content hash, carry an ETag, and
// are sent gzip-compressed to clients that accept it.
func AssetsHandler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		a, ok := docsAssets()[path.Base(c.Path())]
		if !ok {
			return fiber.ErrNotFound
		}
		c.Set(fiber.HeaderCacheControl, assetCacheControl)
		c.Set(fiber.HeaderETag, a.etag)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
		if etagMatches(c.Get(fiber.HeaderIfNoneMatch), a.etag) {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, a.contentType)
		if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
			if gz := a.gzipBody(); gz != nil {
				c.Set(fiber.HeaderContentEncoding, "gzip")
				return c.Send(gz)
			}
		}
		return c.Send(a.body)
	}
}

// SpecHandler serves a document made by Build as application/json, with an
// ETag so clients revalidate cheaply.
func SpecHandler(doc []byte) fiber.Handler {
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, revalidCacheControl)
		c.Set(fiber.HeaderETag, etag)
		if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(doc)
	}
}

// etagMatches reports whether an If-None-Match value names etag.
func etagMatches(ifNoneMatch, etag string) bool {
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip.
func acceptsGzip(acceptEncoding string) bool {
	for part := range strings.SplitSeq(acceptEncoding, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			parsed, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return false
			}
			q = parsed
		}
		return q > 0
	}
	return false
}
