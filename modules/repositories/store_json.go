package repositories

import (
	"context"
	"fmt"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// projectsCollection is the projects module's collection in the JSON store.
// The project_id index references it, so deleting a project deletes its
// repositories in the same transaction, as ON DELETE CASCADE does.
const projectsCollection = "projects"

// jsonStore keeps repositories in the embedded JSON store.
type jsonStore struct {
	db    *jsonstore.Store
	repos *jsonstore.Collection[Repository]
}

var _ Store = (*jsonStore)(nil)

func newJSONStore(db *jsonstore.Store) (Store, error) {
	c, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[Repository]{
		Name:  "repositories",
		ID:    func(r *Repository) string { return r.ID },
		Order: func(r *Repository) page.Cursor { return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID} },
		Indexes: []jsonstore.Index[Repository]{{
			Name:       "project_id",
			Key:        func(r *Repository) (string, bool) { return r.ProjectID, true },
			References: projectsCollection,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("open repositories collection: %w", err)
	}
	return &jsonStore{db: db, repos: c}, nil
}

func (s *jsonStore) Create(ctx context.Context, r *Repository) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.repos.Insert(tx, r) })
}

func (s *jsonStore) Get(ctx context.Context, id string) (*Repository, error) {
	return s.repos.GetOne(ctx, id)
}

func (s *jsonStore) Update(ctx context.Context, id string, fn func(*Repository) error) (*Repository, error) {
	return s.repos.UpdateOne(ctx, id, func(r *Repository) error {
		if err := fn(r); err != nil {
			return err
		}
		r.ID = id // the key is not the callback's to change
		return nil
	})
}

func (s *jsonStore) Delete(ctx context.Context, id string) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.repos.Delete(tx, id) })
}

func (s *jsonStore) List(ctx context.Context, projectID string, req page.Request) (res page.Result[Repository], err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		res, err = s.repos.List(tx, "project_id", projectID, req)
		return err
	})
	return res, err
}
