// Package storetest is the contract every users.Store passes: the same cases,
// with the same answers, run against the JSON store and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/users"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/contract"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Run runs every case on a fresh, empty store made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) users.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s users.Store)
	}{
		{"CreateGet", testCreateGet},
		{"NotFound", testNotFound},
		{"EmailUniqueCaseInsensitive", testEmailUnique},
		{"EmptyEmailsAreNotUnique", testEmptyEmails},
		{"DuplicateID", testDuplicateID},
		{"Update", testUpdate},
		{"UpdateToTakenEmail", testUpdateToTakenEmail},
		{"UpdateErrorAborts", testUpdateErrorAborts},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"ListPages", testListPages},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListEmpty", testListEmpty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

// base is a fixed, microsecond-precise UTC time, as the service makes them.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

func newUser(email string, at time.Time) *users.User {
	return &users.User{ID: ids.New(users.IDPrefix), Email: email, Groups: []string{}, CreatedAt: at, UpdatedAt: at}
}

func create(t *testing.T, s users.Store, u *users.User) *users.User {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), u))
	return u
}

func get(t *testing.T, s users.Store, id string) *users.User {
	t.Helper()
	u, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	return u
}

func requireConflict(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, derrors.ErrConflict)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, what, ce.What)
}

func testCreateGet(t *testing.T, s users.Store) {
	ctx := context.Background()
	full := &users.User{
		ID: ids.New(users.IDPrefix), Email: "ada@example.com", DisplayName: "Ada Lovelace ✓",
		PasswordHash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA", Groups: []string{"operator", "root"},
		ExternalGroups: []string{"operator"}, Disabled: true, External: true,
		CreatedAt: base, UpdatedAt: base.Add(time.Second),
	}
	bare := newUser("grace@example.com", base)
	for _, u := range []*users.User{full, bare} {
		create(t, s, u)
		got := get(t, s, u.ID)
		require.Equal(t, u, got)
		require.Equal(t, time.UTC, got.CreatedAt.Location())

		byEmail, err := s.GetByEmail(ctx, u.Email)
		require.NoError(t, err)
		require.Equal(t, u, byEmail)
		byEmail, err = s.GetByEmail(ctx, "  "+strings.ToUpper(u.Email)+" ")
		require.NoError(t, err, "lookups by email ignore case and spaces")
		require.Equal(t, u, byEmail)
	}
	require.Nil(t, get(t, s, bare.ID).ExternalGroups, "no external groups read back as nil")
	require.Equal(t, []string{}, get(t, s, bare.ID).Groups, "no groups read back as []")

	// The store keeps its own copy: changing what was passed in changes nothing.
	full.DisplayName = "changed"
	full.Groups[0] = "changed"
	require.Equal(t, "Ada Lovelace ✓", get(t, s, full.ID).DisplayName)
	require.Equal(t, []string{"operator", "root"}, get(t, s, full.ID).Groups)
}

func testNotFound(t *testing.T, s users.Store) {
	ctx := context.Background()
	create(t, s, newUser("someone@example.com", base))
	_, err := s.Get(ctx, ids.New(users.IDPrefix))
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = s.GetByEmail(ctx, "nobody@example.com")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = s.GetByEmail(ctx, "")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	called := false
	_, err = s.Update(ctx, ids.New(users.IDPrefix), func(*users.User) error { called = true; return nil })
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.False(t, called, "fn is not called for a missing user")
}

func testEmailUnique(t *testing.T, s users.Store) {
	ctx := context.Background()
	first := create(t, s, newUser("taken@example.com", base))
	for _, email := range []string{"taken@example.com", "TAKEN@Example.com"} {
		u := newUser(email, base.Add(time.Second))
		requireConflict(t, s.Create(ctx, u), "users.email")
		_, err := s.Get(ctx, u.ID)
		require.ErrorIs(t, err, derrors.ErrNotFound, "a refused create writes nothing")
	}
	require.Equal(t, first, get(t, s, first.ID))
}

func testEmptyEmails(t *testing.T, s users.Store) {
	// Users from an identity provider may come without an email.
	a := newUser("", base)
	a.External = true
	b := newUser("", base)
	b.External = true
	create(t, s, a)
	create(t, s, b)
	_, err := s.GetByEmail(context.Background(), "")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.Equal(t, b, get(t, s, b.ID))
}

func testDuplicateID(t *testing.T, s users.Store) {
	u := create(t, s, newUser("one@example.com", base))
	again := newUser("two@example.com", base)
	again.ID = u.ID
	requireConflict(t, s.Create(context.Background(), again), "users.id")
	require.Equal(t, u, get(t, s, u.ID))
}

func testUpdate(t *testing.T, s users.Store) {
	u := create(t, s, newUser("old@example.com", base))
	later := base.Add(time.Minute)
	got, err := s.Update(context.Background(), u.ID, func(u *users.User) error {
		u.Email = "new@example.com"
		u.DisplayName = "New"
		u.Groups = []string{"root"}
		u.ExternalGroups = []string{"operator"}
		u.Disabled = true
		u.UpdatedAt = later
		return nil
	})
	require.NoError(t, err)
	want := *u
	want.Email, want.DisplayName, want.Groups, want.ExternalGroups = "new@example.com", "New", []string{"root"}, []string{"operator"}
	want.Disabled, want.UpdatedAt = true, later
	require.Equal(t, &want, got)
	require.Equal(t, &want, get(t, s, u.ID))

	byNew, err := s.GetByEmail(context.Background(), "new@example.com")
	require.NoError(t, err)
	require.Equal(t, u.ID, byNew.ID)
	_, err = s.GetByEmail(context.Background(), "old@example.com")
	require.ErrorIs(t, err, derrors.ErrNotFound, "the old email is free again")
	create(t, s, newUser("old@example.com", base))
}

func testUpdateToTakenEmail(t *testing.T, s users.Store) {
	create(t, s, newUser("a@example.com", base))
	b := create(t, s, newUser("b@example.com", base))
	_, err := s.Update(context.Background(), b.ID, func(u *users.User) error { u.Email = "A@example.com"; return nil })
	requireConflict(t, err, "users.email")
	require.Equal(t, b, get(t, s, b.ID))
}

func testUpdateErrorAborts(t *testing.T, s users.Store) {
	u := create(t, s, newUser("abort@example.com", base))
	stop := errors.New("stop")
	_, err := s.Update(context.Background(), u.ID, func(u *users.User) error {
		u.DisplayName = "half done"
		u.Disabled = true
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, u, get(t, s, u.ID), "nothing of an aborted update is kept")
}

// testConcurrentUpdates has 50 goroutines each add one to a counter kept in
// the display name, by read-modify-write: every increment must survive.
func testConcurrentUpdates(t *testing.T, s users.Store) {
	u := newUser("counter@example.com", base)
	u.DisplayName = "0"
	create(t, s, u)
	contract.Increments(t, 50, func(bump func(*string) error) error {
		_, err := s.Update(context.Background(), u.ID, func(u *users.User) error { return bump(&u.DisplayName) })
		return err
	}, func() string { return get(t, s, u.ID).DisplayName })
}

// testListPages pages through users whose creation times tie in groups, so
// the id must break ties, in both the order and the cursors.
func testListPages(t *testing.T, s users.Store) {
	var want []users.User
	for i := range 10 {
		at := base.Add(time.Duration(i/3) * time.Millisecond) // 3 users per instant
		want = append(want, *newUser(fmt.Sprintf("u%d@example.com", i), at))
	}
	// Insert in an order unrelated to the list order.
	for _, i := range []int{7, 2, 9, 0, 4, 1, 8, 3, 6, 5} {
		create(t, s, &want[i])
	}
	contract.Sort(want, userAt)
	contract.Pages(t, lister(s), want, userAt)
}

func userAt(u *users.User) page.Cursor {
	return page.Cursor{CreatedAt: u.CreatedAt, ID: u.ID}
}

func lister(s users.Store) func(page.Request) (page.Result[users.User], error) {
	return func(req page.Request) (page.Result[users.User], error) {
		return s.List(context.Background(), req)
	}
}

// testListDefaultLimit has more users than page.DefaultLimit, so that an
// unset limit needs two pages.
func testListDefaultLimit(t *testing.T, s users.Store) {
	var all []users.User
	for i := range page.DefaultLimit + 5 {
		all = append(all, *create(t, s, newUser(fmt.Sprintf("d%d@example.com", i), base.Add(time.Duration(i)*time.Microsecond))))
	}
	contract.Pages(t, lister(s), all, userAt)
}

func testListEmpty(t *testing.T, s users.Store) {
	contract.Pages(t, lister(s), nil, userAt)
}
