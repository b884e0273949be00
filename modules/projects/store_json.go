package projects

import (
	"context"
	"fmt"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// jsonStore keeps projects in the embedded JSON store.
type jsonStore struct {
	db       *jsonstore.Store
	projects *jsonstore.Collection[Project]
}

var _ Store = (*jsonStore)(nil)

func newJSONStore(db *jsonstore.Store) (Store, error) {
	c, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[Project]{
		Name:  "projects",
		ID:    func(p *Project) string { return p.ID },
		Order: func(p *Project) page.Cursor { return page.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} },
		Indexes: []jsonstore.Index[Project]{
			{Name: "owner_id", Key: func(p *Project) (string, bool) { return p.OwnerID, true }},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open projects collection: %w", err)
	}
	return &jsonStore{db: db, projects: c}, nil
}

func (s *jsonStore) Create(ctx context.Context, p *Project) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.projects.Insert(tx, p) })
}

func (s *jsonStore) Get(ctx context.Context, id string) (*Project, error) {
	return s.projects.GetOne(ctx, id)
}

func (s *jsonStore) Update(ctx context.Context, id string, fn func(*Project) error) (*Project, error) {
	return s.projects.UpdateOne(ctx, id, fn)
}

func (s *jsonStore) Delete(ctx context.Context, id string) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.projects.Delete(tx, id) })
}

func (s *jsonStore) List(ctx context.Context, ownerID string, req page.Request) (res page.Result[Project], err error) {
	index, key := "owner_id", ownerID
	if ownerID == "" {
		index = ""
	}
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		res, err = s.projects.List(tx, index, key, req)
		return err
	})
	return res, err
}
