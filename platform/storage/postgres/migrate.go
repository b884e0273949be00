package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/slipwayhq/slipway/platform/settings"
)

// migrateLockKey is the pg_advisory_lock key every Slipway instance takes
// while it changes the schema ("slipway" in ASCII). bun's own Migrator.Lock
// is a row in a table, which does not make a second instance wait (bun #1199).
const migrateLockKey int64 = 0x736c6970776179

// migrationsTable is bun's bookkeeping table.
const migrationsTable = "bun_migrations"

// Migrator applies and rolls back the embedded migrations. It owns a small
// pool of its own, apart from the application's, because it holds one
// connection for the advisory lock while it migrates on another.
type Migrator struct {
	db  *bun.DB
	ms  *migrate.Migrations
	bun *migrate.Migrator
}

// Migration is one migration and whether it is applied.
type Migration struct {
	Name       string // the timestamp, e.g. "20250601000001"
	Comment    string // e.g. "create_users"
	Applied    bool
	GroupID    int64
	MigratedAt time.Time
}

// NewMigrator prepares a Migrator on dsn for ms. It does no I/O.
func NewMigrator(dsn string, ms *migrate.Migrations) (*Migrator, error) {
	db, err := Open(dsn, settings.Pool{MaxOpenConns: 3, MaxIdleConns: 3})
	if err != nil {
		return nil, err
	}
	// Marking a migration applied only once it succeeded keeps a failed one
	// pending, to be fixed and run again.
	return &Migrator{db: db, ms: ms, bun: migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))}, nil
}

// Close releases the Migrator's connections.
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration, in order, as one group, and returns
// those it applied; nothing to do is not an error. A migration file named
// *.tx.up.sql runs in a transaction: when it fails, nothing of it remains,
// it stays pending, and the ones before it stay applied.
func (m *Migrator) Up(ctx context.Context) (applied []Migration, err error) {
	defer wrap(&err, "migrate up")
	err = m.locked(ctx, func(ctx context.Context) error {
		if err := m.bun.Init(ctx); err != nil {
			return err
		}
		group, err := m.bun.Migrate(ctx)
		if group != nil {
			applied = convert(group.Migrations)
			if err != nil && len(applied) > 0 {
				applied = applied[:len(applied)-1] // the last one is the one that failed
			}
		}
		return err
	})
	return applied, err
}

// Down rolls back the last group of migrations (those one Up applied) and
// returns them, newest first; on error it returns none.
func (m *Migrator) Down(ctx context.Context) (rolledBack []Migration, err error) {
	defer wrap(&err, "migrate down")
	err = m.locked(ctx, func(ctx context.Context) error {
		if err := m.bun.Init(ctx); err != nil {
			return err
		}
		group, err := m.bun.Rollback(ctx)
		if err != nil {
			return err
		}
		if group != nil {
			rolledBack = convert(group.Migrations)
			slices.Reverse(rolledBack)
			for i := range rolledBack {
				rolledBack[i].Applied = false
			}
		}
		return nil
	})
	return rolledBack, err
}

// Status lists every known migration, oldest first, with its state, and
// the names of applied migrations this binary does not know (a newer
// binary's). It changes nothing, not even bun's bookkeeping tables.
func (m *Migrator) Status(ctx context.Context) (all []Migration, unknown []string, err error) {
	defer wrap(&err, "migrate status")
	var exists bool
	if err := m.db.QueryRowContext(ctx, "SELECT to_regclass(?) IS NOT NULL", migrationsTable).Scan(&exists); err != nil {
		return nil, nil, err
	}
	if !exists {
		return convert(m.ms.Sorted()), nil, nil
	}
	sorted, err := m.bun.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, nil, err
	}
	missing, err := m.bun.MissingMigrations(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, mig := range missing {
		unknown = append(unknown, mig.Name)
	}
	slices.Sort(unknown)
	return convert(sorted), unknown, nil
}

// Pending returns the migrations not yet applied, oldest first.
func (m *Migrator) Pending(ctx context.Context) ([]Migration, error) {
	all, _, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	var pending []Migration
	for _, mig := range all {
		if !mig.Applied {
			pending = append(pending, mig)
		}
	}
	return pending, nil
}

// locked runs fn while holding the session-level advisory lock on a
// connection of its own, so instances starting together migrate one after
// the other and the later ones find nothing to do.
func (m *Migrator) locked(ctx context.Context, fn func(context.Context) error) (err error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrateLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx has ended; closing the session would too.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.ExecContext(uctx, "SELECT pg_advisory_unlock(?)", migrateLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("release the migration lock: %w", uerr)
		}
	}()
	return fn(ctx)
}

func convert(ms migrate.MigrationSlice) []Migration {
	out := make([]Migration, 0, len(ms))
	for _, mig := range ms {
		out = append(out, Migration{Name: mig.Name, Comment: mig.Comment, Applied: mig.IsApplied(),
			GroupID: mig.GroupID, MigratedAt: mig.MigratedAt})
	}
	return out
}

// wrap names the operation and marks outages, once.
func wrap(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", op, Translate(*errp))
	}
}
