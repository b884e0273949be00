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
	require.Equal(t, "ok", res.JSON(t)["checks"].(map[string]any)["records"])
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
	require.NotContains(t, string(res.Body), "10.0.0.7", "causes stay in the log")
}
