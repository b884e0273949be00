package httpserver_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/settings"
)

// testRoutes adds routes that misbehave on purpose; GET /v1/test/slow is
// answered by slow.
func testRoutes(slow fiber.Handler) fx.Option {
	return fx.Provide(httpserver.AsRegistrar(func() httpserver.Registrar {
		return httpserver.RegistrarFunc(func() []httpserver.Operation {
			return []httpserver.Operation{
				{Method: http.MethodGet, Path: "/test/panic", ID: "testPanic", Summary: "panics",
					Responses: []httpserver.Response{{Status: 204}},
					Handler:   func(*fiber.Ctx) error { panic("secret internal detail") }},
				{Method: http.MethodGet, Path: "/test/slow", ID: "testSlow", Summary: "slow",
					Responses: []httpserver.Response{{Status: 200, ContentType: "text/plain"}},
					Handler:   slow},
			}
		})
	}))
}

// held is a handler that says when a request reached it and answers only
// once released.
type held struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHeld(t *testing.T) *held {
	h := &held{started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(h.Release) // before the app's own stop: a failing test does not hang
	return h
}

func (h *held) handle(c *fiber.Ctx) error {
	h.started <- struct{}{}
	<-h.release
	return c.SendString("done")
}

// Release lets every held request answer.
func (h *held) Release() { h.once.Do(func() { close(h.release) }) }

func TestErrorEnvelopeForEveryFailure(t *testing.T) {
	a := apptest.StartWith(t, apptest.Settings(t, func(s *settings.Settings) { s.HTTP.MaxBodyBytes = 2048 }),
		testRoutes(func(c *fiber.Ctx) error { return c.SendString("done") }))
	tok := a.SignUp().Token

	cases := []struct {
		name   string
		req    apptest.Request
		status int
		code   string
	}{
		{"unknown route", apptest.Request{Method: "GET", Path: "/v1/nope"}, 404, "not_found"},
		{"wrong method", apptest.Request{Method: "PUT", Path: "/v1/projects", Token: tok}, 405, "method_not_allowed"},
		{"invalid json", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":`}, 400, "invalid_json"},
		{"array body", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `["x"]`}, 400, "invalid_json"},
		{"two objects", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":"a"}{"name":"b"}`}, 400, "invalid_json"},
		{"unknown field", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":"a","owner_id":"usr_x"}`}, 422, "validation_error"},
		{"wrong type", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":5}`}, 422, "validation_error"},
		{"wrong media type", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":"a"}`,
			Header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"body too large", apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok,
			Body: `{"name":"` + strings.Repeat("x", 4096) + `"}`}, 413, "payload_too_large"},
		{"panic", apptest.Request{Method: "GET", Path: "/v1/test/panic"}, 500, "internal_error"},
		{"no token", apptest.Request{Method: "GET", Path: "/v1/projects"}, 401, "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := a.Do(tc.req)
			require.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			require.Equal(t, tc.code, res.ErrorCode(t))
			require.NotEmpty(t, res.Header.Get("X-Request-ID"))
		})
	}

	t.Run("405 names the allowed methods", func(t *testing.T) {
		res := a.Do(apptest.Request{Method: "PUT", Path: "/v1/projects/prj_x", Token: tok})
		require.Equal(t, 405, res.Status)
		require.Equal(t, "DELETE, GET, PATCH", res.Header.Get("Allow"))
	})
	t.Run("panic body hides internals", func(t *testing.T) {
		res := a.Get("/v1/test/panic", "")
		require.NotContains(t, string(res.Body), "secret internal detail")
		require.NotContains(t, string(res.Body), "goroutine")
	})
	t.Run("unknown field is named", func(t *testing.T) {
		res := a.Do(apptest.Request{Method: "POST", Path: "/v1/projects", Token: tok, Body: `{"name":"a","owner_id":"usr_x"}`})
		fields := res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["fields"].([]any)
		require.Equal(t, "owner_id", fields[0].(map[string]any)["field"])
	})
}

func TestHeadersTooLarge(t *testing.T) {
	a := apptest.Start(t)
	res := a.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Big": strings.Repeat("a", 16<<10)}})
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.Status)
	require.Equal(t, "headers_too_large", res.ErrorCode(t))
}

func TestRequestID(t *testing.T) {
	a := apptest.Start(t)
	res := a.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-ID": "client-id.42"}})
	require.Equal(t, "client-id.42", res.Header.Get("X-Request-ID"))

	for _, bad := range []string{strings.Repeat("a", 129), "has space", "semi;colon"} {
		res := a.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-ID": bad}})
		got := res.Header.Get("X-Request-ID")
		require.NotEqual(t, bad, got)
		require.Len(t, got, 32)
	}
}

func TestCORS(t *testing.T) {
	a := apptest.Start(t, func(s *settings.Settings) { s.HTTP.CORSOrigins = []string{"https://app.example.com"} })
	preflight := func(origin string) *apptest.Response {
		return a.Do(apptest.Request{Method: "OPTIONS", Path: "/v1/projects", Header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}})
	}
	res := preflight("https://app.example.com")
	require.Equal(t, http.StatusNoContent, res.Status)
	require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", res.Header.Get("Access-Control-Allow-Credentials"))
	require.Contains(t, res.Header.Get("Access-Control-Allow-Headers"), "Authorization")

	// Every method a route uses passes a preflight: a browser refuses a
	// cross-origin PUT (writing a project secret) whose preflight does not
	// list it.
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		res := a.Do(apptest.Request{Method: "OPTIONS", Path: "/v1/projects/prj_x/secrets/API_KEY", Header: map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": method,
			"Access-Control-Request-Headers": "authorization,content-type"}})
		require.Equal(t, http.StatusNoContent, res.Status, method)
		require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"), method)
		require.Contains(t, strings.Split(res.Header.Get("Access-Control-Allow-Methods"), ", "), method)
	}

	res = preflight("https://evil.example.com")
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, res.Header.Get("Access-Control-Allow-Credentials"))

	res = a.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"Origin": "https://app.example.com"}})
	require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID")
}

// TestGracefulShutdown checks an in-flight request finishes when the server
// stops, and that new connections are refused afterwards.
// TestGracefulShutdown stops the server while a request is held in its
// handler: the listener closes at once, Stop waits for the request (the
// test config's deadline is 5 s), the request gets its whole answer, and
// the deadline never passes.
func TestGracefulShutdown(t *testing.T) {
	slow := newHeld(t)
	a := apptest.StartWith(t, apptest.Settings(t), testRoutes(slow.handle))
	addr := a.Server.Addr().String()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/test/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	<-slow.started

	stopped := make(chan struct{})
	go func() { a.Stop(); close(stopped) }()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 5*time.Millisecond, "the listener closes when the stop begins")
	// The request is still held, so Stop must still be waiting. Only a
	// broken Stop can end this window early; a slow machine cannot.
	select {
	case <-stopped:
		t.Fatal("Stop returned while a request was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	slow.Release()

	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, "done", string(body))
	<-stopped
	require.Zero(t, a.Logs().FilterMessageSnippet("shutdown deadline passed").Len(),
		"the request finished within the deadline")
}

func TestAccessLogLine(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	res := a.Do(apptest.Request{Method: "GET", Path: "/v1/projects/prj_01m8bbhhpcc7hjvs7g6jkvym6e", Token: u.Token,
		Header: map[string]string{"X-Request-ID": "trace-me-1"}})
	require.Equal(t, http.StatusNotFound, res.Status)
	var line map[string]any
	require.Eventually(t, func() bool {
		for _, e := range a.Logs().FilterMessage("request").All() {
			if f := e.ContextMap(); f["request_id"] == "trace-me-1" {
				line = f
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "GET", line["method"])
	require.Equal(t, "/v1/projects/:project_id", line["route"])
	require.Equal(t, "/v1/projects/prj_01m8bbhhpcc7hjvs7g6jkvym6e", line["path"])
	require.EqualValues(t, 404, line["status"])
	require.Equal(t, u.ID, line["user_id"])
	require.Contains(t, line, "latency")
	require.Contains(t, line, "bytes")
}

func TestUnknownMethodGetsTheEnvelope(t *testing.T) {
	a := apptest.Start(t)
	res := a.Do(apptest.Request{Method: "BREW", Path: "/healthz"})
	require.Equal(t, http.StatusMethodNotAllowed, res.Status)
	require.Equal(t, "method_not_allowed", res.ErrorCode(t))
	require.NotEmpty(t, res.Header.Get("X-Request-ID"))
}

// textRoutes adds an operation with a nested body, a query and a header,
// which answers 204 once its input passed Decode and the edge's checks.
func textRoutes(reached *atomic.Int64) fx.Option {
	type note struct {
		Text *string `json:"text,omitempty"`
	}
	type body struct {
		Title string   `json:"title"`
		Notes []note   `json:"notes,omitempty"`
		Tags  []string `json:"tags,omitempty"`
	}
	type query struct {
		Q string `query:"q"`
	}
	return fx.Provide(httpserver.AsRegistrar(func() httpserver.Registrar {
		return httpserver.RegistrarFunc(func() []httpserver.Operation {
			return []httpserver.Operation{{Method: http.MethodPost, Path: "/test/text", ID: "testText", Summary: "text",
				Request: body{}, Query: query{}, Headers: []httpserver.Header{{Name: "X-Note"}},
				Responses: []httpserver.Response{{Status: 204}},
				Handler: func(c *fiber.Ctx) error {
					var b body
					if err := httpserver.Decode(c, &b); err != nil {
						return err
					}
					reached.Add(1)
					return c.SendStatus(http.StatusNoContent)
				}}}
		})
	}))
}

// TestNULIsRefusedAtTheEdge: NUL in any text of a request, at any depth of
// the body, in the query or in a declared header, is a 422 naming it,
// before the handler acts on it.
func TestNULIsRefusedAtTheEdge(t *testing.T) {
	var reached atomic.Int64
	a := apptest.StartWith(t, apptest.Settings(t), textRoutes(&reached))
	fieldsOf := func(t *testing.T, raw []byte) []string {
		t.Helper()
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Details struct {
					Fields []struct{ Field, Reason string } `json:"fields"`
				} `json:"details"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(raw, &env), "%s", raw)
		require.Equal(t, "validation_error", env.Error.Code)
		var names []string
		for _, f := range env.Error.Details.Fields {
			require.Equal(t, httpserver.NULReason, f.Reason)
			names = append(names, f.Field)
		}
		return names
	}
	for _, tc := range []struct {
		name, query, body string
		want              []string
	}{
		{name: "clean", body: `{"title":"a\tb","notes":[{"text":"x\ny"}]}`},
		{name: "top level", body: `{"title":"a\u0000b"}`, want: []string{"title"}},
		{name: "nested pointer in a list", body: `{"title":"a","notes":[{},{"text":"\u0000"}]}`, want: []string{"notes[1].text"}},
		{name: "list", body: `{"title":"a","tags":["\u0000"]}`, want: []string{"tags[0]"}},
		{name: "query", query: "?q=a%00b", body: `{"title":"a"}`, want: []string{"q"}},
		{name: "query and body", query: "?q=%00&q=%00", body: `{"title":"\u0000"}`, want: []string{"q"}},
		{name: "undeclared query is never read", query: "?other=%00", body: `{"title":"a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached.Load()
			res := a.Post("/v1/test/text"+tc.query, "", tc.body)
			if tc.want == nil {
				require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
				require.Equal(t, before+1, reached.Load())
				return
			}
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			require.Equal(t, tc.want, fieldsOf(t, res.Body))
			require.Equal(t, before, reached.Load(), "the handler acted on NUL text")
		})
	}

	// Go's client will not send NUL in a header; a raw request does.
	t.Run("declared header", func(t *testing.T) {
		conn, err := net.Dial("tcp", a.Server.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		body := `{"title":"a"}`
		_, err = fmt.Fprintf(conn, "POST /v1/test/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\nX-Note: a\x00b\r\n\r\n%s", len(body), body)
		require.NoError(t, err)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%s", raw)
		require.Equal(t, []string{"X-Note"}, fieldsOf(t, raw))
	})
}
