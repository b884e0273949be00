package secrets

import (
	"context"
	"fmt"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// projectsCollection is the projects module's collection in the JSON store.
// The project_id index references it, so deleting a project deletes its
// secrets in the same transaction, as ON DELETE CASCADE does.
const projectsCollection = "projects"

// jsonStore keeps secrets in the embedded JSON store.
type jsonStore struct {
	db      *jsonstore.Store
	secrets *jsonstore.Collection[Secret]
}

var _ Store = (*jsonStore)(nil)

// nameKey is a secret's key in the unique project_name index; "/" is in
// neither ids nor names.
func nameKey(projectID, name string) string { return projectID + "/" + name }

func newJSONStore(db *jsonstore.Store) (Store, error) {
	c, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[Secret]{
		Name:  "secrets",
		ID:    func(s *Secret) string { return s.ID },
		Order: func(s *Secret) page.Cursor { return page.Cursor{CreatedAt: s.CreatedAt, ID: s.ID} },
		Indexes: []jsonstore.Index[Secret]{
			{
				Name:       "project_id",
				Key:        func(s *Secret) (string, bool) { return s.ProjectID, true },
				References: projectsCollection,
			},
			{
				Name:   "project_name",
				Unique: true,
				Key:    func(s *Secret) (string, bool) { return nameKey(s.ProjectID, s.Name), true },
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open secrets collection: %w", err)
	}
	return &jsonStore{db: db, secrets: c}, nil
}

// Put looks the name up, sums the others and writes in one transaction
// under the store's single writer.
func (s *jsonStore) Put(ctx context.Context, sec *Secret, admit func(Usage) error) (created bool, err error) {
	var admitErr error
	err = s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		var u Usage
		var existing *Secret
		for other, err := range s.secrets.All(tx, "project_id", sec.ProjectID) {
			if err != nil {
				return err
			}
			if other.Name == sec.Name {
				existing = &other
				continue
			}
			u.Count++
			u.CiphertextBytes += len(other.Ciphertext)
		}
		if admitErr = admit(u); admitErr != nil {
			return admitErr
		}
		next := *sec
		if existing == nil {
			created = true
			return s.secrets.Insert(tx, &next)
		}
		next.ID, next.CreatedAt = existing.ID, existing.CreatedAt
		return s.secrets.Put(tx, &next)
	})
	if admitErr != nil {
		return false, admitErr
	}
	return created, err
}

func (s *jsonStore) Get(ctx context.Context, projectID, name string) (out *Secret, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		v, err := s.secrets.Lookup(tx, "project_name", nameKey(projectID, name))
		out = &v
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *jsonStore) Delete(ctx context.Context, projectID, name string) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		v, err := s.secrets.Lookup(tx, "project_name", nameKey(projectID, name))
		if err != nil {
			return err
		}
		return s.secrets.Delete(tx, v.ID)
	})
}

func (s *jsonStore) List(ctx context.Context, projectID string, req page.Request) (res page.Result[Secret], err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		res, err = s.secrets.List(tx, "project_id", projectID, req)
		return err
	})
	return res, err
}

func (s *jsonStore) All(ctx context.Context, projectID string) (out []Secret, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		for v, err := range s.secrets.All(tx, "project_id", projectID) {
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
