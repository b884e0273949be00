// Package parenttest stands in for the projects module in the store tests
// of the modules whose records belong to a project (repositories,
// secrets). Domains do not import each other, and those stores need no
// more of a project than its record: on the JSON store a document in the
// "projects" collection (which cascades by collection name), on
// PostgreSQL a row in projects with its owner in users.
package parenttest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Prefixes are the id prefixes of the stand-ins' records. The tests give
// them: only the modules that own a kind of record declare its prefix.
type Prefixes struct {
	Project, User ids.Prefix
}

// Projects makes and deletes stand-in projects.
type Projects struct {
	// New makes a project and returns its id.
	New func(t *testing.T) string
	// Delete deletes a project the way the projects module does, so its
	// children go with it.
	Delete func(t *testing.T, id string)
}

type projectDoc struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// JSON registers the projects collection on db, before the child store
// opens on it, and returns its stand-in projects.
func JSON(t testing.TB, db *jsonstore.Store, p Prefixes) Projects {
	projects, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[projectDoc]{
		Name:  "projects",
		ID:    func(p *projectDoc) string { return p.ID },
		Order: func(p *projectDoc) page.Cursor { return page.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} },
	})
	require.NoError(t, err)
	return Projects{
		New: func(t *testing.T) string {
			doc := &projectDoc{ID: ids.New(p.Project), CreatedAt: time.Now().UTC()}
			require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error { return projects.Insert(tx, doc) }))
			return doc.ID
		},
		Delete: func(t *testing.T, id string) {
			require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error { return projects.Delete(tx, id) }))
		},
	}
}

// Postgres returns the stand-in projects of a migrated database.
func Postgres(db *bun.DB, p Prefixes) Projects {
	return Projects{
		New: func(t *testing.T) string { return InsertProject(t, db, p) },
		Delete: func(t *testing.T, id string) {
			res, err := db.ExecContext(context.Background(), "DELETE FROM projects WHERE id = ?", id)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
		},
	}
}

// InsertProject adds a user and a project row of theirs, and returns the
// project's id.
func InsertProject(t testing.TB, db *bun.DB, p Prefixes) string {
	ctx := context.Background()
	user, project := ids.New(p.User), ids.New(p.Project)
	_, err := db.ExecContext(ctx,
		"INSERT INTO users (id, email, created_at, updated_at) VALUES (?, ?, now(), now())", user, user+"@example.com")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx,
		"INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES (?, ?, 'p', now(), now())", project, user)
	require.NoError(t, err)
	return project
}
