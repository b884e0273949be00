package openapi_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/openapi"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// chromium finds a headless Chromium: $SLIPWAY_CHROMIUM, else the Debian
// package's binaries.
func chromium() string {
	if p := os.Getenv("SLIPWAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// probeJS is loaded ahead of the page's scripts: it writes every
// Content-Security-Policy violation into the DOM, which --dump-dom prints.
const probeJS = `document.addEventListener("securitypolicyviolation", function (e) {
  var p = document.createElement("pre");
  p.className = "csp-violation";
  p.textContent = e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber;
  document.documentElement.appendChild(p);
});`

// driveJS is loaded after the page's scripts when the URL has ?drive=1. It
// uses the page as a person would, so that the parts Swagger UI renders
// only on demand run under the policy too: it opens and closes the
// Authorize dialog, then tries out listProjects and waits for the answer.
const driveJS = `(function () {
  if (location.search.indexOf("drive=1") < 0) return;
  function mark(s) {
    var p = document.createElement("pre");
    p.className = "probe-step";
    p.textContent = s;
    document.documentElement.appendChild(p);
  }
  function waitFor(sel, then, tries) {
    var el = document.querySelector(sel);
    if (el) return then(el);
    if ((tries || 0) > 200) return mark("timeout " + sel);
    setTimeout(function () { waitFor(sel, then, (tries || 0) + 1); }, 50);
  }
  var op = "#operations-projects-listProjects ";
  waitFor(".btn.authorize", function (b) {
    b.click();
    waitFor(".auth-container input", function () {
      mark("authorize-open");
      waitFor(".close-modal", function (c) {
        c.click();
        waitFor(op + ".opblock-summary-control", function (s) {
          s.click();
          waitFor(op + ".try-out__btn", function (t) {
            t.click();
            waitFor(op + ".execute", function (e) {
              e.click();
              waitFor(op + ".live-responses-table", function () { mark("executed"); });
            });
          });
        });
      });
    });
  });
})();`

// TestDocsPageRendersInBrowser loads the docs page in headless Chromium,
// every host but 127.0.0.1 unresolvable, and checks that Swagger UI renders
// the document under DocsCSP with nothing blocked, and that every request
// the page makes is answered by our server.
func TestDocsPageRendersInBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		testenv.Unavailable(t, "headless Chromium (apt-get install chromium-headless-shell, or set SLIPWAY_CHROMIUM)")
	}
	doc, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)

	var mu sync.Mutex
	var requests []string
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		mu.Lock()
		requests = append(requests, c.Method()+" "+c.Path()+" "+
			string(c.Response().Header.ContentType())+" "+strconv.Itoa(c.Response().StatusCode()))
		mu.Unlock()
		return err
	})
	// Add the probes around the page's own scripts; the page is otherwise
	// served exactly as DocsHandler makes it.
	app.Use("/docs", func(c *fiber.Ctx) error {
		if err := c.Next(); err != nil {
			return err
		}
		if strings.HasPrefix(string(c.Response().Header.ContentType()), "text/html") {
			body := bytes.Replace(c.Response().Body(), []byte("<script "), []byte(`<script src="/probe.js"></script><script `), 1)
			body = bytes.Replace(body, []byte("</body>"), []byte(`<script src="/drive.js"></script></body>`), 1)
			c.Response().SetBody(body)
		}
		return nil
	})
	script := func(js string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, "text/javascript")
			return c.SendString(js)
		}
	}
	app.Get("/probe.js", script(probeJS))
	app.Get("/drive.js", script(driveJS))
	app.Get("/v1/openapi.json", openapi.SpecHandler(doc))
	app.Get("/v1/projects", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"items": []fiber.Map{{"id": "prj_1", "name": "demo"}}, "next_cursor": nil})
	})
	openapi.Mount(app, "/docs", "/v1/openapi.json")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	base := "http://" + ln.Addr().String()

	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"page", "/docs", []string{"Slipway API", `class="opblock-summary-path"`, "/v1/projects/{project_id}", "Create a project"}},
		// A deep link expands an operation: parameters, request body and
		// responses render, their examples highlighted.
		{"expanded operation", "/docs#/runs/startRun", []string{"Idempotency-Key", "Request body", "timeout_seconds", "schema_version"}},
		// From "/docs/" the relative asset URLs resolve differently.
		{"trailing slash", "/docs/#/projects/updateProject", []string{"Update a project", "project_id"}},
		{"authorize and try it out", "/docs?drive=1", []string{"authorize-open", "executed", "prj_1", "Server response"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom := dumpDOM(t, bin, base+tc.path)
			violations := regexp.MustCompile(`<pre class="csp-violation">[^<]*</pre>`).FindAllString(dom, -1)
			require.Empty(t, violations, "the page broke its Content-Security-Policy")
			require.NotContains(t, dom, "Failed to load API definition")
			// Swagger UI lists what it could not resolve in an errors pane.
			require.NotContains(t, dom, "errors-wrapper")
			require.NotContains(t, dom, "timeout ")
			for _, w := range tc.want {
				require.Contains(t, dom, w)
			}
		})
	}

	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		"GET /docs text/html; charset=utf-8 200",
		"GET /docs/ text/html; charset=utf-8 200",
		"GET /docs/assets/docs.js text/javascript; charset=utf-8 200",
		"GET /docs/assets/swagger-ui-bundle.js text/javascript; charset=utf-8 200",
		"GET /docs/assets/swagger-ui.css text/css; charset=utf-8 200",
		"GET /v1/openapi.json application/json; charset=utf-8 200",
		"GET /v1/projects application/json 200",
	} {
		require.Contains(t, requests, want)
	}
	for _, r := range requests {
		require.True(t, strings.HasSuffix(r, " 200"), "the page asked for something we do not serve: %s", r)
	}
}

// dumpDOM loads url in headless Chromium, with every host but 127.0.0.1
// unresolvable, and returns the DOM once the page has settled.
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--virtual-time-budget=30000",
		"--dump-dom", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return string(out)
}
