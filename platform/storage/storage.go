// Package storage opens the records backend the settings choose — the
// embedded JSON store or PostgreSQL — and hands it to the domain modules,
// which keep one store implementation per backend behind their own interface.
package storage

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

// Records is the opened records backend: exactly one field is set.
type Records struct {
	Backend string
	JSON    *jsonstore.Store
}

// Module provides *Records and its readiness check.
var Module = fx.Module("storage",
	fx.Provide(
		NewRecords,
		readiness.AsCheck(func(r *Records) readiness.Check {
			return readiness.Check{Name: "records", Probe: r.Ping}
		}),
	),
)

// NewRecords opens the configured backend. The JSON store is opened here, not
// in OnStart, because domain stores register their collections (and build
// their indexes) from its loaded contents while they are constructed; opening
// it takes the data dir's lock, so a second server on the same dir fails here.
func NewRecords(lc fx.Lifecycle, s *settings.Settings, log *zap.Logger) (*Records, error) {
	r := &Records{Backend: s.Storage.Backend}
	switch s.Storage.Backend {
	case settings.BackendJSON:
		dir := filepath.Join(s.Storage.DataDir, "records")
		db, err := jsonstore.Open(dir, jsonstore.Options{Logger: log.Named("jsonstore")})
		if err != nil {
			return nil, fmt.Errorf("open JSON store: %w", err)
		}
		r.JSON = db
		lc.Append(fx.StopHook(db.Close))
	default:
		return nil, fmt.Errorf("setting SLIPWAY_STORAGE_BACKEND: %q is not available", s.Storage.Backend)
	}
	return r, nil
}

// Ping reports whether the backend answers.
func (r *Records) Ping(ctx context.Context) error {
	if r.JSON != nil {
		return r.JSON.View(ctx, func(*jsonstore.Tx) error { return nil })
	}
	return nil
}
