package health_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/readiness"
)

func TestHealthz(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/healthz", "")
	require.Equal(t, http.StatusOK, res.Status)
	require.JSONEq(t, `{"status":"ok"}`, string(res.Body))
}

func TestReadyz(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/readyz", "")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	body := res.JSON(t)
	checks := body["checks"].(map[string]any)
	require.Equal(t, "ok", checks["records"])
	// docker is optional and absent on some machines: whichever it is,
	// "ok" must mean every check passes.
	allOK := true
	for _, state := range checks {
		allOK = allOK && state == "ok"
	}
	want := map[bool]string{true: "ok", false: "degraded"}[allOK]
	require.Equal(t, want, body["status"], "%s", res.Body)
}

func TestReadyzDegradedWhenOptionalCheckFails(t *testing.T) {
	optional := fx.Provide(readiness.AsCheck(func() readiness.Check {
		return readiness.Check{Name: "gadgets", Optional: true, Probe: func(context.Context) error {
			return errors.New("dial tcp 10.0.0.9:2375: connection refused")
		}}
	}))
	a := apptest.StartWith(t, apptest.Settings(t), optional)
	res := a.Get("/readyz", "")
	require.Equal(t, http.StatusOK, res.Status, "an optional check never fails readiness: %s", res.Body)
	body := res.JSON(t)
	require.Equal(t, "degraded", body["status"], "a failing check is never reported as ok: %s", res.Body)
	checks := body["checks"].(map[string]any)
	require.Equal(t, "failing", checks["gadgets"])
	require.Equal(t, "ok", checks["records"])
	require.NotContains(t, string(res.Body), "10.0.0.9", "causes stay in the log")

	// The document says so.
	res = a.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, res.Status)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	res.Decode(t, &doc)
	require.Contains(t, doc.Paths["/readyz"]["get"].Responses["200"].Description, "`degraded`")
	require.Equal(t, []string{"ok", "degraded"}, doc.Components.Schemas["Readiness"].Properties["status"].Enum)
}

func TestReadyzNamesFailedCheck(t *testing.T) {
	failing := fx.Provide(readiness.AsCheck(func() readiness.Check {
		return readiness.Check{Name: "widgets", Probe: func(context.Context) error {
			return errors.New("dial tcp 10.0.0.7:5432: connection refused")
		}}
	}))
	optional := fx.Provide(readiness.AsCheck(func() readiness.Check {
		return readiness.Check{Name: "gadgets", Optional: true, Probe: func(context.Context) error { return errors.New("down") }}
	}))
	a := apptest.StartWith(t, apptest.Settings(t), failing, optional)
	res := a.Get("/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	require.Equal(t, "not_ready", res.ErrorCode(t))
	details := res.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
	require.Equal(t, []any{"widgets"}, details["failed"], "optional checks never fail readiness")
	require.Equal(t, "failing", details["checks"].(map[string]any)["gadgets"])
	require.NotContains(t, string(res.Body), "10.0.0.7", "causes stay in the log")
}
