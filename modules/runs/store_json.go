package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// jsonStore keeps runs in the embedded JSON store. Like the foreign keys and
// the trigger of migrations/*_create_runs.*, the project_id and
// repository_id indexes reference the projects and repositories
// collections: a run of a missing repository is refused, deleting a
// project or repository deletes its runs in the same transaction, and every
// deleted run is recorded in run_deletions for the worker to remove its
// objects.
type jsonStore struct {
	db        *jsonstore.Store
	runs      *jsonstore.Collection[Run]
	instances *jsonstore.Collection[Instance]
	deletions *jsonstore.Collection[deletion]
}

// deletion is a run whose objects are still to be removed.
type deletion struct {
	RunID     string    `json:"run_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

var _ Store = (*jsonStore)(nil)

// sep joins the parts of composite index keys; ids never contain it.
const sep = "\x00"

// The collections of the projects and repositories modules that runs
// reference, by name: domains do not import each other.
const (
	projectsCollection     = "projects"
	repositoriesCollection = "repositories"
)

func newJSONStore(db *jsonstore.Store) (Store, error) {
	deletions, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[deletion]{
		Name:  "run_deletions",
		ID:    func(d *deletion) string { return d.RunID },
		Order: func(d *deletion) page.Cursor { return page.Cursor{CreatedAt: d.DeletedAt, ID: d.RunID} },
	})
	if err != nil {
		return nil, fmt.Errorf("open run_deletions collection: %w", err)
	}
	key := func(f func(*Run) string) func(*Run) (string, bool) {
		return func(r *Run) (string, bool) { return f(r), true }
	}
	runs, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[Run]{
		Name:  "runs",
		ID:    func(r *Run) string { return r.ID },
		Order: func(r *Run) page.Cursor { return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID} },
		// The runs_record_deletion trigger.
		OnDelete: func(tx *jsonstore.Tx, r *Run) error {
			return deletions.Put(tx, &deletion{RunID: r.ID, DeletedAt: time.Now().UTC()})
		},
		Indexes: []jsonstore.Index[Run]{
			{Name: "owner", Key: key(func(r *Run) string { return r.OwnerID })},
			{Name: "owner_status", Key: key(func(r *Run) string { return r.OwnerID + sep + string(r.Status) })},
			{Name: "owner_project", Key: key(func(r *Run) string { return r.OwnerID + sep + r.ProjectID })},
			{Name: "owner_repository", Key: key(func(r *Run) string { return r.OwnerID + sep + r.RepositoryID })},
			{Name: "project_id", Key: key(func(r *Run) string { return r.ProjectID }), References: projectsCollection},
			{Name: "repository_id", Key: key(func(r *Run) string { return r.RepositoryID }), References: repositoriesCollection},
			{Name: "status", Key: key(func(r *Run) string { return string(r.Status) })},
			{Name: "active_owner", Key: func(r *Run) (string, bool) { return r.OwnerID, r.Status.Active() }},
			{Name: "idempotency", Unique: true, Key: func(r *Run) (string, bool) {
				return r.OwnerID + sep + r.IdempotencyKey, r.IdempotencyKey != ""
			}},
			// Runs holding a key, oldest first: everyone's and an owner's.
			{Name: "keyed", Key: func(r *Run) (string, bool) { return keyed, r.IdempotencyKey != "" }},
			{Name: "keyed_owner", Key: func(r *Run) (string, bool) { return r.OwnerID, r.IdempotencyKey != "" }},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open runs collection: %w", err)
	}
	instances, err := jsonstore.NewCollection(db, jsonstore.CollectionSpec[Instance]{
		Name: "run_instances",
		ID:   func(in *Instance) string { return in.ID },
	})
	if err != nil {
		return nil, fmt.Errorf("open run_instances collection: %w", err)
	}
	return &jsonStore{db: db, runs: runs, instances: instances, deletions: deletions}, nil
}

func (s *jsonStore) Create(ctx context.Context, run *Run, maxActive int) (existing *Run, err error) {
	defer derrors.Wrap(&err, "runs.Create(%q)", run.ID)
	err = s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		if run.IdempotencyKey != "" {
			v, err := s.runs.Lookup(tx, "idempotency", run.OwnerID+sep+run.IdempotencyKey)
			if err == nil {
				existing = &v
				return nil
			}
			if !errors.Is(err, derrors.ErrNotFound) {
				return err
			}
		}
		n, err := s.runs.Count(tx, "active_owner", run.OwnerID)
		if err != nil {
			return err
		}
		if n >= maxActive {
			return ErrQuotaExceeded
		}
		return s.runs.Insert(tx, run)
	})
	return existing, err
}

// keyed is the one key of the "keyed" index.
const keyed = "keyed"

func (s *jsonStore) ExpireKeys(ctx context.Context, ownerID string, before time.Time, keep int) (n int, err error) {
	defer derrors.Wrap(&err, "runs.ExpireKeys(%q)", ownerID)
	index, key, over := "keyed", keyed, 0
	err = s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		n = 0
		if ownerID != "" {
			index, key = "keyed_owner", ownerID
			if keep > 0 {
				total, err := s.runs.Count(tx, index, key)
				if err != nil {
					return err
				}
				over = total - keep
			}
		}
		// Oldest first: past the surplus, the first run not expired ends it.
		var expired []Run
		for r, err := range s.runs.All(tx, index, key) {
			if err != nil {
				return err
			}
			if len(expired) >= over && !r.CreatedAt.Before(before) {
				break
			}
			expired = append(expired, r)
		}
		for i := range expired {
			expired[i].IdempotencyKey, expired[i].RequestHash = "", ""
			if err := s.runs.Put(tx, &expired[i]); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}

func (s *jsonStore) Get(ctx context.Context, id string) (*Run, error) {
	return s.runs.GetOne(ctx, id)
}

func (s *jsonStore) Update(ctx context.Context, id string, fn func(*Run) error) (*Run, error) {
	return s.runs.UpdateOne(ctx, id, fn)
}

// ClaimNext takes the oldest queued run in one transaction of the store's
// single writer.
func (s *jsonStore) ClaimNext(ctx context.Context, instanceID string) (claimed *Run, err error) {
	defer derrors.Wrap(&err, "runs.ClaimNext(%q)", instanceID)
	err = s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		claimed = nil
		p, err := s.runs.List(tx, "status", string(StatusQueued), page.Request{Limit: 1})
		if err != nil || len(p.Items) == 0 {
			return err
		}
		r := p.Items[0]
		r.Status, r.InstanceID = StatusPreparing, instanceID
		if err := s.runs.Put(tx, &r); err != nil {
			return err
		}
		claimed = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// plan picks the index that serves f best and the filter left to apply.
func plan(f Filter) (index, key string, rest func(*Run) bool) {
	switch {
	case f.OwnerID != "" && f.RepositoryID != "":
		index, key = "owner_repository", f.OwnerID+sep+f.RepositoryID
	case f.OwnerID != "" && f.ProjectID != "":
		index, key = "owner_project", f.OwnerID+sep+f.ProjectID
	case f.OwnerID != "" && f.Status != "":
		index, key = "owner_status", f.OwnerID+sep+string(f.Status)
	case f.OwnerID != "":
		index, key = "owner", f.OwnerID
	case f.RepositoryID != "":
		index, key = "repository_id", f.RepositoryID
	case f.ProjectID != "":
		index, key = "project_id", f.ProjectID
	case f.Status != "":
		index, key = "status", string(f.Status)
	}
	return index, key, func(r *Run) bool {
		return (f.OwnerID == "" || r.OwnerID == f.OwnerID) &&
			(f.ProjectID == "" || r.ProjectID == f.ProjectID) &&
			(f.RepositoryID == "" || r.RepositoryID == f.RepositoryID) &&
			(f.Status == "" || r.Status == f.Status)
	}
}

func (s *jsonStore) List(ctx context.Context, f Filter, req page.Request) (res page.Result[Run], err error) {
	defer derrors.Wrap(&err, "runs.List")
	limit := req.Limit
	if limit <= 0 {
		limit = page.DefaultLimit
	}
	limit = min(limit, page.MaxLimit)
	index, key, keep := plan(f)
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		items := make([]Run, 0, limit+1)
		after := req.After
		// The index narrows to one field; the others are filtered here,
		// reading whole pages until one more item than asked shows that
		// another page follows.
		for len(items) <= limit {
			p, err := s.runs.List(tx, index, key, page.Request{Limit: page.MaxLimit, After: after})
			if err != nil {
				return err
			}
			for i := range p.Items {
				if keep(&p.Items[i]) {
					items = append(items, p.Items[i])
					if len(items) > limit {
						break
					}
				}
			}
			if p.Next.IsZero() {
				break
			}
			after = p.Next
		}
		if len(items) > limit {
			items = items[:limit]
			last := items[limit-1]
			res.Next = page.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		res.Items = items
		return nil
	})
	return res, err
}

func (s *jsonStore) ListStatus(ctx context.Context, statuses ...Status) (out []Run, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		for _, st := range statuses {
			for r, err := range s.runs.All(tx, "status", string(st)) {
				if err != nil {
					return err
				}
				out = append(out, r)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

func (s *jsonStore) RepositoryIDs(ctx context.Context) (out []string, err error) {
	seen := map[string]bool{}
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		for r, err := range s.runs.All(tx, "", "") {
			if err != nil {
				return err
			}
			if !seen[r.RepositoryID] {
				seen[r.RepositoryID] = true
				out = append(out, r.RepositoryID)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// DeleteRepositoryRuns deletes the runs of a repository, which OnDelete
// records as deleted. A deleted repository's runs go with it; this removes
// those an older release left behind.
func (s *jsonStore) DeleteRepositoryRuns(ctx context.Context, repositoryID string) (n int, err error) {
	err = s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		n = 0
		for r, err := range s.runs.All(tx, "repository_id", repositoryID) {
			if err != nil {
				return err
			}
			if err := s.runs.Delete(tx, r.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (s *jsonStore) Deleted(ctx context.Context, limit int) (out []string, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		p, err := s.deletions.List(tx, "", "", page.Request{Limit: limit})
		for _, d := range p.Items {
			out = append(out, d.RunID)
		}
		return err
	})
	return out, err
}

func (s *jsonStore) Forget(ctx context.Context, ids []string) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error {
		for _, id := range ids {
			if err := s.deletions.Delete(tx, id); err != nil && !errors.Is(err, derrors.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

func (s *jsonStore) PutInstance(ctx context.Context, in *Instance) error {
	return s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.instances.Put(tx, in) })
}

func (s *jsonStore) Instances(ctx context.Context) (out []Instance, err error) {
	err = s.db.View(ctx, func(tx *jsonstore.Tx) error {
		for in, err := range s.instances.All(tx, "", "") {
			if err != nil {
				return err
			}
			out = append(out, in)
		}
		return nil
	})
	return out, err
}

func (s *jsonStore) DeleteInstance(ctx context.Context, id string) error {
	err := s.db.Update(ctx, func(tx *jsonstore.Tx) error { return s.instances.Delete(tx, id) })
	if errors.Is(err, derrors.ErrNotFound) {
		return nil
	}
	return err
}
