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
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// Records is the opened records backend: exactly one field is set.
type Records struct {
	Backend string
	JSON    *jsonstore.Store
}

// Module provides *Records, the objects.Store, and their readiness checks.
var Module = fx.Module("storage",
	fx.Provide(
		NewRecords,
		readiness.AsCheck(func(r *Records) readiness.Check {
			return readiness.Check{Name: "records", Probe: r.Ping}
		}),
		NewObjects,
		readiness.AsCheck(func(o objects.Store) readiness.Check {
			return readiness.Check{Name: "objects", Probe: o.Ping}
		}),
	),
)

// NewObjects builds the object store for run logs and patches: a folder
// under the data dir, or S3. It does no I/O.
func NewObjects(lc fx.Lifecycle, s *settings.Settings) (objects.Store, error) {
	store, err := objects.New(s.Objects.Backend, filepath.Join(s.Storage.DataDir, "objects"), objects.S3Config{
		Bucket:   s.Objects.S3.Bucket,
		Region:   s.Objects.S3.Region,
		Endpoint: s.Objects.S3.Endpoint,
	})
	if err != nil {
		return nil, fmt.Errorf("setting SLIPWAY_OBJECT_STORE: %w", err)
	}
	lc.Append(fx.StopHook(store.Close))
	return store, nil
}

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
