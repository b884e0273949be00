// Package migrations is Slipway's PostgreSQL schema: timestamped SQL files,
// one .up.sql and one .down.sql per change, embedded into the binary so
// `slipway migrate` and the server's automatic migration need no source
// tree. Files named *.tx.up.sql / *.tx.down.sql run in a transaction, so a
// failing migration leaves nothing half done.
//
// Adding a table: write NNNNNNNNNNNNNN_what.tx.up.sql and its .tx.down.sql
// (the 14-digit UTC timestamp orders them); the migration test applies every
// migration up, down and up again.
package migrations

import (
	"embed"
	"fmt"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// New returns the embedded migrations.
func New() (*migrate.Migrations, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return nil, fmt.Errorf("discover embedded migrations: %w", err)
	}
	return ms, nil
}
