package secrets_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/modules/secrets/storetest"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// projectDoc stands in for the projects module's documents: the JSON store
// cascades by collection name, so the secrets store needs no more of a
// project than its id (domains do not import each other).
type projectDoc struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

func jsonBackend(t *testing.T) storetest.Backend {
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	projects, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[projectDoc]{
		Name:  "projects",
		ID:    func(p *projectDoc) string { return p.ID },
		Order: func(p *projectDoc) page.Cursor { return page.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} },
	})
	require.NoError(t, err)
	s, err := secrets.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	return storetest.Backend{
		Store: s,
		NewProject: func(t *testing.T) string {
			p := &projectDoc{ID: ids.New("prj"), CreatedAt: time.Now().UTC()}
			require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error { return projects.Insert(tx, p) }))
			return p.ID
		},
		DeleteProject: func(t *testing.T, id string) {
			require.NoError(t, db.Update(context.Background(), func(tx *jsonstore.Tx) error { return projects.Delete(tx, id) }))
		},
	}
}

func TestJSONStoreContract(t *testing.T) {
	storetest.Run(t, jsonBackend)
}
