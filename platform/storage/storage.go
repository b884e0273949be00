// Package storage opens the records backend the settings choose — the
// embedded JSON store or PostgreSQL — and hands it to the domain modules,
// which keep one store implementation per backend behind their own interface.
package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/readiness"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/objects"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
)

// Records is the opened records backend: exactly one of JSON and DB is set.
type Records struct {
	Backend string
	JSON    *jsonstore.Store
	DB      *bun.DB
}

// pingTimeout bounds the first contact with PostgreSQL at start, so a
// database that does not answer stops the start with one line, well inside
// fx's start timeout.
const pingTimeout = 5 * time.Second

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

// Observer is told how long each call to the records backend took: a JSON
// store View or Update (op jsonstore.OpView, OpUpdate), a PostgreSQL query
// (op postgres.OpSelect …). The metrics module provides one when metrics
// are on.
type Observer interface {
	ObserveStoreCall(backend, op string, took time.Duration)
}

// RecordsParams are NewRecords' dependencies.
type RecordsParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Settings  *settings.Settings
	Log       *zap.Logger
	Observer  Observer `optional:"true"`
}

// NewRecords opens the configured backend. The JSON store is opened here, not
// in OnStart, because domain stores register their collections (and build
// their indexes) from its loaded contents while they are constructed; opening
// it takes the data dir's lock, so a second server on the same dir fails here.
func NewRecords(p RecordsParams) (*Records, error) {
	lc, s, log, obs := p.Lifecycle, p.Settings, p.Log, p.Observer
	r := &Records{Backend: s.Storage.Backend}
	switch s.Storage.Backend {
	case settings.BackendJSON:
		dir := filepath.Join(s.Storage.DataDir, "records")
		opts := jsonstore.Options{Logger: log.Named("jsonstore")}
		if obs != nil {
			opts.Observe = func(op string, took time.Duration) { obs.ObserveStoreCall(settings.BackendJSON, op, took) }
		}
		db, err := jsonstore.Open(dir, opts)
		if err != nil {
			return nil, fmt.Errorf("open JSON store: %w", err)
		}
		r.JSON = db
		lc.Append(fx.StopHook(db.Close))
	case settings.BackendPostgres:
		db, err := postgres.Open(s.Storage.DatabaseURL, s.Storage.Pool)
		if err != nil {
			return nil, fmt.Errorf("setting SLIPWAY_DATABASE_URL: %w", err)
		}
		if obs != nil {
			db.AddQueryHook(postgres.QueryTimer(func(op string, took time.Duration) {
				obs.ObserveStoreCall(settings.BackendPostgres, op, took)
			}))
		}
		r.DB = db
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				return startPostgres(ctx, db, s.Storage, log.Named("postgres"))
			},
			OnStop: func(context.Context) error { return db.Close() },
		})
	default:
		return nil, fmt.Errorf("setting SLIPWAY_STORAGE_BACKEND: %q is not available", s.Storage.Backend)
	}
	return r, nil
}

// Ping reports whether the backend answers.
func (r *Records) Ping(ctx context.Context) error {
	switch {
	case r.JSON != nil:
		return r.JSON.View(ctx, func(*jsonstore.Tx) error { return nil })
	case r.DB != nil:
		if err := r.DB.PingContext(ctx); err != nil {
			return fmt.Errorf("ping postgres: %w", postgres.Translate(err))
		}
	}
	return nil
}

// startPostgres is the PostgreSQL backend's OnStart: it checks the database
// answers, then migrates it (auto_migrate, local and test) or refuses to
// serve on a schema older than this binary's migrations (production, where
// `slipway migrate up` runs as a release step). Every failure is one line
// that never contains the URL.
func startPostgres(ctx context.Context, db *bun.DB, s settings.Storage, log *zap.Logger) error {
	where := postgres.Describe(s.DatabaseURL)
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := db.PingContext(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to postgres at %s (SLIPWAY_DATABASE_URL): %w", where, err)
	}
	ms, err := migrations.New()
	if err != nil {
		return err
	}
	m, err := postgres.NewMigrator(s.DatabaseURL, ms)
	if err != nil {
		return err
	}
	defer m.Close()
	if s.AutoMigrate {
		applied, err := m.Up(ctx)
		if err != nil {
			return fmt.Errorf("postgres at %s: %w", where, err)
		}
		if len(applied) > 0 {
			log.Info("database migrated", zap.String("database", where), zap.Strings("applied", names(applied)))
		}
	}
	all, unknown, err := m.Status(ctx)
	if err != nil {
		return fmt.Errorf("postgres at %s: %w", where, err)
	}
	var pending []postgres.Migration
	for _, mig := range all {
		if !mig.Applied {
			pending = append(pending, mig)
		}
	}
	if len(pending) > 0 {
		noun := "migrations"
		if len(pending) == 1 {
			noun = "migration"
		}
		return fmt.Errorf("database schema is behind: %d %s pending (%s); run \"slipway migrate up\" or set SLIPWAY_AUTO_MIGRATE=true",
			len(pending), noun, strings.Join(names(pending), ", "))
	}
	if len(unknown) > 0 {
		// A newer release migrated first (a rolling deploy): its migrations
		// must stay compatible with this binary, so serve, but say so.
		log.Warn("database schema has migrations this binary does not know", zap.Strings("unknown", unknown))
	}
	return nil
}

func names(ms []postgres.Migration) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Name+"_"+m.Comment)
	}
	return out
}
