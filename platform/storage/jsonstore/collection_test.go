package jsonstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/stretchr/testify/require"
)

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})

	u := mkUser("u1", 0)
	u.Org = "acme"
	insert(t, s, c, u)

	got, err := get(t, s, c, "u1")
	require.NoError(t, err)
	require.Equal(t, *u, got)

	got, err = lookup(t, s, c, "email", "u1@example.com")
	require.NoError(t, err)
	require.Equal(t, "u1", got.ID)

	u.Count = 7
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Put(tx, u) }))
	got, err = get(t, s, c, "u1")
	require.NoError(t, err)
	require.Equal(t, 7, got.Count)

	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Delete(tx, "u1") }))
	_, err = get(t, s, c, "u1")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.EqualError(t, err, `users.Get("u1"): not found`)
	_, err = lookup(t, s, c, "email", "u1@example.com")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.Equal(t, 0, count(t, s, c, "", ""))
	require.Equal(t, 0, count(t, s, c, "org", "acme"))

	err = s.Update(ctx, func(tx *Tx) error { return c.Delete(tx, "u1") })
	require.ErrorIs(t, err, derrors.ErrNotFound)

	// Put of a new id inserts.
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Put(tx, mkUser("u2", 0)) }))
	require.Equal(t, 1, count(t, s, c, "", ""))
}

func TestWriteConflicts(t *testing.T) {
	handle := "ann"
	tests := []struct {
		name  string
		write func(tx *Tx, c *Collection[user]) error
		what  string
	}{
		{"insert existing id", func(tx *Tx, c *Collection[user]) error {
			return c.Insert(tx, &user{ID: "a", Email: "other@example.com"})
		}, "users.id"},
		{"insert taken email", func(tx *Tx, c *Collection[user]) error {
			return c.Insert(tx, &user{ID: "x", Email: "a@example.com"})
		}, "users.email"},
		{"insert taken email, other case", func(tx *Tx, c *Collection[user]) error {
			return c.Insert(tx, &user{ID: "x", Email: "A@Example.COM"})
		}, "users.email"},
		{"put takes another's email", func(tx *Tx, c *Collection[user]) error {
			return c.Put(tx, &user{ID: "b", Email: "a@example.com"})
		}, "users.email"},
		{"put takes another's handle", func(tx *Tx, c *Collection[user]) error {
			return c.Put(tx, &user{ID: "b", Email: "b@example.com", Handle: &handle})
		}, "users.handle"},
		{"clash with a write earlier in the same tx", func(tx *Tx, c *Collection[user]) error {
			if err := c.Insert(tx, &user{ID: "y", Email: "new@example.com"}); err != nil {
				return err
			}
			return c.Insert(tx, &user{ID: "z", Email: "NEW@example.com"})
		}, "users.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := openUsers(t, t.TempDir(), Options{})
			insert(t, s, c, &user{ID: "a", Email: "a@example.com", Handle: &handle}, &user{ID: "b", Email: "b@example.com"})
			before := s.Stats().Commits

			err := s.Update(context.Background(), func(tx *Tx) error { return tt.write(tx, c) })
			require.ErrorIs(t, err, derrors.ErrConflict)
			var ce *derrors.ConflictError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.what, ce.What)

			require.Equal(t, before, s.Stats().Commits, "a failed Update logs nothing")
			require.Equal(t, 2, count(t, s, c, "", ""))
			b, err := get(t, s, c, "b")
			require.NoError(t, err)
			require.Nil(t, b.Handle)
			_, err = lookup(t, s, c, "email", "new@example.com")
			require.ErrorIs(t, err, derrors.ErrNotFound)
		})
	}
}

func TestConflictLeavesTxUsable(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, &user{ID: "a", Email: "a@example.com"})
	require.NoError(t, s.Update(context.Background(), func(tx *Tx) error {
		err := c.Insert(tx, &user{ID: "b", Email: "a@example.com"})
		require.ErrorIs(t, err, derrors.ErrConflict)
		// The failed Insert left nothing behind in the tx: the id is free.
		_, err = c.Get(tx, "b")
		require.ErrorIs(t, err, derrors.ErrNotFound)
		return c.Insert(tx, &user{ID: "b", Email: "b@example.com"})
	}))
	require.Equal(t, 2, count(t, s, c, "", ""))
}

func TestNullableUniqueIndex(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	h := "h"
	insert(t, s, c, mkUser("a", 0), mkUser("b", 0), &user{ID: "c", Email: "c@x", Handle: &h})
	require.Equal(t, 1, count(t, s, c, "handle", "h"))
	u, err := lookup(t, s, c, "handle", "h")
	require.NoError(t, err)
	require.Equal(t, "c", u.ID)
	_, err = lookup(t, s, c, "handle", "")
	require.ErrorIs(t, err, derrors.ErrNotFound)
}

func TestIndexFollowsKeyChange(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	a := mkUser("a", 0)
	a.Org = "one"
	insert(t, s, c, a, mkUser("b", time.Second))

	a.Email = "renamed@example.com"
	a.Org = "two"
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Put(tx, a) }))

	_, err := lookup(t, s, c, "email", "a@example.com")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	got, err := lookup(t, s, c, "email", "renamed@example.com")
	require.NoError(t, err)
	require.Equal(t, "a", got.ID)
	require.Equal(t, 0, count(t, s, c, "org", "one"))
	require.Equal(t, 1, count(t, s, c, "org", "two"))

	// The old key is free for someone else.
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		return c.Insert(tx, &user{ID: "c", Email: "A@example.com", CreatedAt: t0})
	}))

	// Dropping out of an index (org cleared) and a new list position.
	a.Org = ""
	a.CreatedAt = t0.Add(time.Hour)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Put(tx, a) }))
	require.Equal(t, 0, count(t, s, c, "org", "two"))
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		res, err := c.List(tx, "", "", page.Request{})
		require.NoError(t, err)
		require.Equal(t, []string{"c", "b", "a"}, ids(res.Items))
		return nil
	}))

	// Indexes survive a reopen.
	dir := s.Dir()
	require.NoError(t, s.Close())
	s, c = openUsers(t, dir, Options{})
	got, err = lookup(t, s, c, "email", "a@example.com")
	require.NoError(t, err)
	require.Equal(t, "c", got.ID)
	require.Equal(t, 0, count(t, s, c, "org", "two"))
	require.Equal(t, 3, count(t, s, c, "", ""))
}

// listAll pages through the list with limit, passing cursors through their
// opaque form as an API client would.
func listAll(t *testing.T, s *Store, c *Collection[user], index, key string, limit int) (pages [][]string) {
	t.Helper()
	var after string
	for {
		cur, err := page.Decode(after)
		require.NoError(t, err)
		var res page.Result[user]
		require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
			res, err = c.List(tx, index, key, page.Request{Limit: limit, After: cur})
			return err
		}))
		pages = append(pages, ids(res.Items))
		if res.Next.IsZero() {
			return pages
		}
		require.Len(t, res.Items, limit, "a page with a next cursor is full")
		last := res.Items[len(res.Items)-1]
		require.Equal(t, last.ID, res.Next.ID)
		require.True(t, last.CreatedAt.Equal(res.Next.CreatedAt))
		after = page.Encode(res.Next)
		require.Less(t, len(pages), 1000)
	}
}

func TestListPagination(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	// 45 users, many sharing a created_at, inserted out of order; odd ones in org "odd".
	var all []*user
	for i := range 45 {
		u := mkUser(fmt.Sprintf("u%02d", (i*17)%45), time.Duration(i%4)*time.Second)
		n := (i * 17) % 45
		if n%2 == 1 {
			u.Org = "odd"
		}
		all = append(all, u)
	}
	insert(t, s, c, all...)

	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *user) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var want, wantOdd []string
	for _, u := range sorted {
		want = append(want, u.ID)
		if u.Org == "odd" {
			wantOdd = append(wantOdd, u.ID)
		}
	}

	tests := []struct {
		name       string
		index, key string
		limit      int
		want       []string
		pages      int
	}{
		{"whole collection by 20", "", "", 20, want, 3},
		{"whole collection by 7", "", "", 7, want, 7},
		{"whole collection by 1", "", "", 1, want, 45},
		{"exact multiple has no empty last page", "", "", 15, want, 3},
		{"one page", "", "", 100, want, 1},
		{"by index", "org", "odd", 5, wantOdd, 5},
		{"by index, one page", "org", "odd", 50, wantOdd, 1},
		{"absent key", "org", "none", 5, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := listAll(t, s, c, tt.index, tt.key, tt.limit)
			require.Len(t, pages, tt.pages)
			var got []string
			for _, p := range pages {
				got = append(got, p...)
			}
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, 45, count(t, s, c, "", ""))
	require.Equal(t, len(wantOdd), count(t, s, c, "org", "odd"))
	require.Equal(t, 0, count(t, s, c, "org", "od"))
}

func TestListCursorOfDeletedItem(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, mkUser("a", 0), mkUser("b", 0), mkUser("c", time.Second), mkUser("d", 2*time.Second))
	var res page.Result[user]
	require.NoError(t, s.View(ctx, func(tx *Tx) (err error) {
		res, err = c.List(tx, "", "", page.Request{Limit: 2})
		return err
	}))
	require.Equal(t, []string{"a", "b"}, ids(res.Items))
	require.NoError(t, s.Update(ctx, func(tx *Tx) error { return c.Delete(tx, "b") }))
	require.NoError(t, s.View(ctx, func(tx *Tx) (err error) {
		res, err = c.List(tx, "", "", page.Request{Limit: 2, After: res.Next})
		return err
	}))
	require.Equal(t, []string{"c", "d"}, ids(res.Items))
	require.True(t, res.Next.IsZero())
}

func TestListLimits(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	var us []*user
	for i := range 150 {
		us = append(us, mkUser(fmt.Sprintf("u%03d", i), time.Duration(i)))
	}
	insert(t, s, c, us...)
	tests := []struct {
		limit, want int
	}{{0, page.DefaultLimit}, {-1, page.DefaultLimit}, {1, 1}, {100, 100}, {1000, page.MaxLimit}}
	for _, tt := range tests {
		require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
			res, err := c.List(tx, "", "", page.Request{Limit: tt.limit})
			require.NoError(t, err)
			require.Len(t, res.Items, tt.want, "limit %d", tt.limit)
			require.False(t, res.Next.IsZero())
			return nil
		}))
	}
}

func TestUnknownIndex(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
		_, err := c.List(tx, "nope", "", page.Request{})
		require.ErrorContains(t, err, `no index "nope"`)
		_, err = c.Count(tx, "nope", "")
		require.Error(t, err)
		_, err = c.Lookup(tx, "org", "x")
		require.ErrorContains(t, err, `no unique index "org"`)
		for _, err := range c.All(tx, "nope", "") {
			require.Error(t, err)
		}
		return nil
	}))
}

func TestUpdateRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, mkUser("keep", 0))
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx *Tx) error {
		require.NoError(t, c.Insert(tx, mkUser("new", 0)))
		require.NoError(t, c.Delete(tx, "keep"))
		_, err := c.Get(tx, "new")
		require.NoError(t, err, "reads see the tx's own writes")
		_, err = c.Get(tx, "keep")
		require.ErrorIs(t, err, derrors.ErrNotFound)
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = get(t, s, c, "keep")
	require.NoError(t, err)
	_, err = get(t, s, c, "new")
	require.ErrorIs(t, err, derrors.ErrNotFound)

	// Nor does a later Update see the rolled back writes; nor a reopen.
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		_, err := c.Get(tx, "new")
		require.ErrorIs(t, err, derrors.ErrNotFound)
		return nil
	}))
	dir := s.Dir()
	require.NoError(t, s.Close())
	s, c = openUsers(t, dir, Options{})
	require.Equal(t, 1, count(t, s, c, "", ""))

	// A panic in fn releases the writer lock and applies nothing.
	require.Panics(t, func() {
		_ = s.Update(ctx, func(tx *Tx) error {
			require.NoError(t, c.Insert(tx, mkUser("p", 0)))
			panic("fn panicked")
		})
	})
	insert(t, s, c, mkUser("after-panic", 0))
	_, err = get(t, s, c, "p")
	require.ErrorIs(t, err, derrors.ErrNotFound)

	// A cancelled context applies nothing either.
	cctx, cancel := context.WithCancel(ctx)
	err = s.Update(cctx, func(tx *Tx) error {
		cancel()
		return c.Insert(tx, mkUser("cancelled", 0))
	})
	require.ErrorIs(t, err, context.Canceled)
	_, err = get(t, s, c, "cancelled")
	require.ErrorIs(t, err, derrors.ErrNotFound)
}

func TestReadOwnWritesInUpdate(t *testing.T) {
	s, c := openUsers(t, t.TempDir(), Options{})
	require.NoError(t, s.Update(context.Background(), func(tx *Tx) error {
		a := mkUser("a", 0)
		a.Org = "o"
		require.NoError(t, c.Insert(tx, a))
		got, err := c.Lookup(tx, "email", "a@example.com")
		require.NoError(t, err)
		require.Equal(t, "a", got.ID)
		n, err := c.Count(tx, "org", "o")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		res, err := c.List(tx, "org", "o", page.Request{})
		require.NoError(t, err)
		require.Equal(t, []string{"a"}, ids(res.Items))
		return nil
	}))
}

func TestCopyIsolation(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	u := mkUser("a", 0)
	u.Tags = []string{"x", "y"}
	insert(t, s, c, u)
	// Mutating the value after Insert does not reach the store.
	u.Tags[0] = "changed-after-insert"
	u.Email = "changed@example.com"

	got, err := get(t, s, c, "a")
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, got.Tags)
	got.Tags[1] = "changed-after-get"

	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		res, err := c.List(tx, "", "", page.Request{})
		require.NoError(t, err)
		res.Items[0].Tags[0] = "changed-in-list"
		for v, err := range c.All(tx, "", "") {
			require.NoError(t, err)
			v.Tags[0] = "changed-in-all"
		}
		return nil
	}))
	got, err = get(t, s, c, "a")
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, got.Tags)
	require.Equal(t, "a@example.com", got.Email)
}

func TestConcurrentIncrements(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, mkUser("counter", 0))
	const writers, readers = 50, 4
	var wg sync.WaitGroup
	// Room for every send (one per writer, at most one per reader), so a
	// failing reader fails the test instead of blocking a writer forever.
	errs := make(chan error, writers+readers)
	for range writers {
		wg.Go(func() {
			errs <- s.Update(ctx, func(tx *Tx) error {
				u, err := c.Get(tx, "counter")
				if err != nil {
					return err
				}
				u.Count++
				return c.Put(tx, &u)
			})
		})
	}
	// Readers run alongside and always see a whole number of increments.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for range readers {
		rg.Go(func() {
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				u, err := get(t, s, c, "counter")
				if err != nil || u.Count < last {
					errs <- fmt.Errorf("reader saw %d after %d (err %v)", u.Count, last, err)
					return
				}
				last = u.Count
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	u, err := get(t, s, c, "counter")
	require.NoError(t, err)
	require.Equal(t, writers, u.Count)

	dir := s.Dir()
	require.NoError(t, s.Close())
	s, c = openUsers(t, dir, Options{})
	u, err = get(t, s, c, "counter")
	require.NoError(t, err)
	require.Equal(t, writers, u.Count)
}

func TestViewIsASnapshot(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	insert(t, s, c, mkUser("a", 0))
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		// A commit while the View runs is invisible to it.
		insert(t, s, c, mkUser("b", 0))
		_, err := c.Get(tx, "b")
		require.ErrorIs(t, err, derrors.ErrNotFound)
		n, err := c.Count(tx, "", "")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		return nil
	}))
	_, err := get(t, s, c, "b")
	require.NoError(t, err)
}

func TestTxMisuse(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	var leaked *Tx
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		leaked = tx
		require.ErrorIs(t, c.Insert(tx, mkUser("a", 0)), ErrReadOnly)
		require.ErrorIs(t, c.Delete(tx, "a"), ErrReadOnly)
		return nil
	}))
	_, err := c.Get(leaked, "a")
	require.ErrorIs(t, err, ErrTxDone)

	require.NoError(t, s.Update(ctx, func(tx *Tx) error { leaked = tx; return nil }))
	require.ErrorIs(t, c.Insert(leaked, mkUser("a", 0)), ErrTxDone)

	other, oc := openUsers(t, t.TempDir(), Options{})
	require.NoError(t, other.Update(ctx, func(tx *Tx) error {
		require.ErrorContains(t, c.Insert(tx, mkUser("a", 0)), "another store")
		return oc.Insert(tx, mkUser("a", 0))
	}))

	require.ErrorContains(t, s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, nil) }), "nil document")
	require.ErrorContains(t, s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, &user{}) }), "invalid document id")
	require.ErrorContains(t, s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, &user{ID: "\xff"}) }), "invalid document id")

	_, err = NewCollection(s, userSpec())
	require.ErrorContains(t, err, `collection "users" is already registered`)
}

func TestCascadeDeleteIsOneRecord(t *testing.T) {
	ctx := context.Background()
	s, c := openUsers(t, t.TempDir(), Options{})
	var us []*user
	for i := range 300 {
		u := mkUser(fmt.Sprintf("u%03d", i), time.Duration(i))
		if i%3 == 0 {
			u.Org = "gone"
		}
		us = append(us, u)
	}
	insert(t, s, c, us...)
	before := s.Stats().Commits
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		for u, err := range c.All(tx, "org", "gone") {
			if err != nil {
				return err
			}
			if err := c.Delete(tx, u.ID); err != nil {
				return err
			}
		}
		return nil
	}))
	require.Equal(t, before+1, s.Stats().Commits)
	require.Equal(t, 0, count(t, s, c, "org", "gone"))
	require.Equal(t, 200, count(t, s, c, "", ""))
}

func TestNewCollectionOnLoadedData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Written with email as a plain index, so duplicates are allowed...
	loose := userSpec()
	loose.Indexes = []Index[user]{{Name: "email", Key: loose.Indexes[0].Key}}
	s := openStore(t, dir, Options{})
	c, err := NewCollection(s, loose)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		require.NoError(t, c.Insert(tx, &user{ID: "a", Email: "same@example.com"}))
		return c.Insert(tx, &user{ID: "b", Email: "SAME@example.com"})
	}))
	require.NoError(t, s.Close())

	// ...then registered with a unique email index: the clash names both.
	s = openStore(t, dir, Options{})
	_, err = NewCollection(s, userSpec())
	require.ErrorIs(t, err, derrors.ErrConflict)
	require.EqualError(t, err, `new collection "users": unique index "email": documents "a" and "b" share key "same@example.com": conflict on users.email`)
	require.NoError(t, s.Close())

	// A document that no longer decodes as T names itself.
	type strict struct {
		ID    string `json:"id"`
		Email int    `json:"email"`
	}
	s = openStore(t, dir, Options{})
	_, err = NewCollection(s, CollectionSpec[strict]{Name: "users", ID: func(v *strict) string { return v.ID }})
	require.ErrorContains(t, err, `new collection "users": decode document "a"`)
}

func TestSpecValidation(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	id := func(u *user) string { return u.ID }
	key := func(u *user) (string, bool) { return u.Email, true }
	tests := []struct {
		name string
		spec CollectionSpec[user]
		want string
	}{
		{"no name", CollectionSpec[user]{ID: id}, "invalid name"},
		{"no id func", CollectionSpec[user]{Name: "x"}, "an id func is required"},
		{"unnamed index", CollectionSpec[user]{Name: "x", ID: id, Indexes: []Index[user]{{Key: key}}}, "needs a name"},
		{"duplicate index", CollectionSpec[user]{Name: "x", ID: id, Indexes: []Index[user]{{Name: "e", Key: key}, {Name: "e", Key: key}}}, "declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCollection(s, tt.spec)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestUnorderedCollection(t *testing.T) {
	type kv struct {
		K string `json:"k"`
		V string `json:"v"`
	}
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})
	c, err := NewCollection(s, CollectionSpec[kv]{Name: "kv", ID: func(v *kv) string { return v.K }})
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx *Tx) error {
		for _, k := range []string{"c", "a", "b"} {
			if err := c.Insert(tx, &kv{K: k}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		res, err := c.List(tx, "", "", page.Request{Limit: 2})
		require.NoError(t, err)
		require.Len(t, res.Items, 2)
		require.Equal(t, "b", res.Items[1].K)
		cur, err := page.Decode(page.Encode(res.Next))
		require.NoError(t, err)
		res, err = c.List(tx, "", "", page.Request{Limit: 2, After: cur})
		require.NoError(t, err)
		require.Equal(t, []kv{{K: "c"}}, res.Items)
		return nil
	}))
}
