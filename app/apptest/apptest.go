// Package apptest is the one test harness: Start boots the whole fx app on a
// random loopback port with a temporary data dir, and returns an HTTP client
// with helpers to sign users up and call the API as them.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slipwayhq/slipway/app"
	"github.com/slipwayhq/slipway/modules/users"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/logging"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/settings"
)

// Option changes the settings before the app starts.
type Option func(*settings.Settings)

// App is a running server under test.
type App struct {
	t   testing.TB
	URL string // http://127.0.0.1:port
	// MetricsURL is the metrics listener's http://127.0.0.1:port, when on
	// (WithMetrics).
	MetricsURL string
	Settings   *settings.Settings
	Client     *http.Client
	Server     *httpserver.Server
	users      *users.Service
	logs       *observer.ObservedLogs
	fx         *fx.App
	stopped    atomic.Bool
}

// Settings returns test settings (configs/test.yaml) with a fresh data dir,
// independent of the developer's SLIPWAY_* variables.
func Settings(t testing.TB, opts ...Option) *settings.Settings {
	t.Helper()
	env := map[string]string{"SLIPWAY_ENV": settings.EnvTest, "SLIPWAY_DATA_DIR": t.TempDir()}
	s, err := settings.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	for _, o := range opts {
		o(s)
	}
	require.NoError(t, s.Validate())
	return s
}

// Start boots the app with test settings changed by opts, and stops it when
// the test ends.
func Start(t testing.TB, opts ...Option) *App {
	t.Helper()
	return StartWith(t, Settings(t, opts...))
}

// StartWith boots the app with the given settings.
func StartWith(t testing.TB, s *settings.Settings, extra ...fx.Option) *App {
	t.Helper()
	a := &App{t: t, Settings: s, Client: &http.Client{Timeout: 30 * time.Second}}
	var m *metrics.Metrics
	a.fx = fx.New(app.Options(s), fx.NopLogger, fx.Populate(&a.Server, &a.users, &m),
		// Logs go to the test's own output (shown for failing tests and -v)
		// and, at every level, to an observer tests can search; both through
		// the production redaction.
		fx.Decorate(func() *zap.Logger {
			visible := zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Core()
			observed, logs := observer.New(zapcore.DebugLevel)
			a.logs = logs
			// Each core redacted on its own keeps its own level: a failing
			// test shows warnings and errors, not every access line.
			return zap.New(logging.RedactEach(visible, observed))
		}),
		fx.Options(extra...))
	require.NoError(t, a.fx.Err())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, a.fx.Start(ctx))
	a.URL = "http://" + a.Server.Addr().String()
	if addr := m.Addr(); addr != nil {
		a.MetricsURL = "http://" + addr.String()
	}
	t.Cleanup(a.Stop)
	return a
}

// Logs returns every log entry the app wrote, at every level.
func (a *App) Logs() *observer.ObservedLogs { return a.logs }

// Stop stops the app (idempotent); tests call it to restart on the same dir.
func (a *App) Stop() {
	if a.stopped.Swap(true) {
		return
	}
	a.Client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(a.t, a.fx.Stop(ctx))
}

// Response is a fully read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// Decode decodes the body into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// ErrorCode returns error.code of an envelope, checking the envelope's shape.
func (r *Response) ErrorCode(t testing.TB) string {
	t.Helper()
	require.Equal(t, "application/json", r.Header.Get("Content-Type"), "error bodies are JSON: %s", r.Body)
	var env struct {
		SchemaVersion int `json:"schema_version"`
		Error         struct {
			Code      string         `json:"code"`
			Message   string         `json:"message"`
			Retryable *bool          `json:"retryable"`
			Details   map[string]any `json:"details"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &env), "body: %s", r.Body)
	require.Equal(t, 1, env.SchemaVersion, "body: %s", r.Body)
	require.NotEmpty(t, env.Error.Code)
	require.NotEmpty(t, env.Error.Message)
	require.NotNil(t, env.Error.Retryable)
	require.NotNil(t, env.Error.Details)
	return env.Error.Code
}

// Request is one call; Body is marshalled to JSON unless it is a string or []byte.
type Request struct {
	Method  string
	Path    string
	Token   string
	Body    any
	Header  map[string]string
	Timeout time.Duration
}

// Do sends req and reads the whole response; a failed exchange fails the
// test. Goroutines other than the test's use Send.
func (a *App) Do(req Request) *Response {
	a.t.Helper()
	res, err := a.Send(req)
	require.NoError(a.t, err)
	return res
}

// Send sends req and reads the whole response. It never fails the test, so
// goroutines may call it and leave the assertions to the test goroutine.
func (a *App) Send(req Request) (*Response, error) {
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(req.Method, a.URL+req.Path, body)
	if err != nil {
		return nil, err
	}
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	res, err := a.Client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.Path, err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: raw}, nil
}

// Get, Post, Patch and Delete are shorthands of Do.
func (a *App) Get(path, token string) *Response {
	a.t.Helper()
	return a.Do(Request{Method: http.MethodGet, Path: path, Token: token})
}

// Post sends a JSON body.
func (a *App) Post(path, token string, body any) *Response {
	a.t.Helper()
	return a.Do(Request{Method: http.MethodPost, Path: path, Token: token, Body: body})
}

// Patch sends a JSON body.
func (a *App) Patch(path, token string, body any) *Response {
	a.t.Helper()
	return a.Do(Request{Method: http.MethodPatch, Path: path, Token: token, Body: body})
}

// Delete sends a DELETE.
func (a *App) Delete(path, token string) *Response {
	a.t.Helper()
	return a.Do(Request{Method: http.MethodDelete, Path: path, Token: token})
}

// User is a signed-up test user.
type User struct {
	ID    string
	Email string
	Token string
}

var userSeq atomic.Int64

// SignUp creates a fresh user through the API and returns its token.
func (a *App) SignUp() User {
	a.t.Helper()
	email := fmt.Sprintf("user%d-%d@example.com", userSeq.Add(1), time.Now().UnixNano())
	res := a.Post("/v1/auth/signup", "", map[string]any{"email": email, "password": "correct horse battery"})
	require.Equal(a.t, http.StatusCreated, res.Status, "signup: %s", res.Body)
	var out struct {
		User        struct{ ID string } `json:"user"`
		AccessToken string              `json:"access_token"`
	}
	res.Decode(a.t, &out)
	return User{ID: out.User.ID, Email: email, Token: out.AccessToken}
}

// CreateUser makes a user with groups directly through the users service
// (groups cannot be self-assigned through the API) and logs in as them.
func (a *App) CreateUser(groups ...string) User {
	a.t.Helper()
	email := fmt.Sprintf("member%d-%d@example.com", userSeq.Add(1), time.Now().UnixNano())
	require.NoError(a.t, a.createUser(email, "correct horse battery", groups))
	res := a.Post("/v1/auth/login", "", map[string]any{"email": email, "password": "correct horse battery"})
	require.Equal(a.t, http.StatusOK, res.Status, "login: %s", res.Body)
	var out struct {
		User        struct{ ID string } `json:"user"`
		AccessToken string              `json:"access_token"`
	}
	res.Decode(a.t, &out)
	return User{ID: out.User.ID, Email: email, Token: out.AccessToken}
}
