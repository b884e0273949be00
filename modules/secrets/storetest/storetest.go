// Package storetest is the contract every secrets.Store passes: the same
// cases, with the same answers, run against the JSON store and PostgreSQL.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/contract"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Backend is a fresh, empty secrets store and the projects of the same
// backend that secrets belong to.
type Backend struct {
	Store secrets.Store
	// NewProject makes a project secrets may belong to and returns its id.
	NewProject func(t *testing.T) string
	// DeleteProject deletes a project the way the projects module does.
	DeleteProject func(t *testing.T, id string)
}

// Run runs every case on a fresh backend made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"PutCreatesGet", testPutCreates},
		{"PutReplacesKeepingIDAndCreation", testPutReplaces},
		{"SameNameInTwoProjects", testSameNameInTwoProjects},
		{"NotFound", testNotFound},
		{"AdmitSeesTheOthers", testAdmitSeesTheOthers},
		{"AdmitErrorAborts", testAdmitErrorAborts},
		{"ConcurrentPutsRespectAdmit", testConcurrentPutsRespectAdmit},
		{"DeleteRemovesOnlyThatSecret", testDelete},
		{"DeletingProjectDeletesItsSecrets", testProjectCascade},
		{"MissingProjectIsRefused", testMissingProject},
		{"ProjectDeletedDuringCreates", testProjectDeletedDuringCreates},
		{"ListPagesByProject", testListPagesByProject},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListEmpty", testListEmpty},
		{"AllInOrder", testAll},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newBackend(t)) })
	}
}

// base is a fixed, microsecond-precise UTC time, as the service makes them.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

func newSecret(project, name string, at time.Time) *secrets.Secret {
	return &secrets.Secret{ID: ids.New(secrets.IDPrefix), ProjectID: project, Name: name,
		KeyID: "0123456789abcdef", Ciphertext: bytes.Repeat([]byte{0xc3, 0x00, 0x28}, 12), CreatedAt: at, UpdatedAt: at}
}

func admitAll(secrets.Usage) error { return nil }

func put(t *testing.T, b Backend, s *secrets.Secret) bool {
	t.Helper()
	created, err := b.Store.Put(context.Background(), s, admitAll)
	require.NoError(t, err)
	return created
}

func get(t *testing.T, b Backend, project, name string) *secrets.Secret {
	t.Helper()
	s, err := b.Store.Get(context.Background(), project, name)
	require.NoError(t, err)
	return s
}

func testPutCreates(t *testing.T, b Backend) {
	s := newSecret(b.NewProject(t), "OPENAI_API_KEY", base)
	s.Ciphertext = bytes.Repeat([]byte{0, 0xff, 'x'}, (secrets.MaxValueBytes+secrets.Overhead)/3) // any bytes, NUL included
	s.UpdatedAt = base.Add(time.Second)
	require.True(t, put(t, b, s), "a new name is created")
	got := get(t, b, s.ProjectID, s.Name)
	require.Equal(t, s, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	s.Ciphertext[0] = 'X'
	require.Equal(t, byte(0), get(t, b, s.ProjectID, s.Name).Ciphertext[0], "the store keeps its own copy")
}

func testPutReplaces(t *testing.T, b Backend) {
	first := newSecret(b.NewProject(t), "TOKEN", base)
	put(t, b, first)
	again := newSecret(first.ProjectID, "TOKEN", base.Add(time.Hour))
	again.KeyID, again.Ciphertext = "fedcba9876543210", []byte("another ciphertext, longer than 32 bytes")
	require.False(t, put(t, b, again), "an existing name is replaced")
	want := *first
	want.KeyID, want.Ciphertext, want.UpdatedAt = again.KeyID, again.Ciphertext, again.UpdatedAt
	require.Equal(t, &want, get(t, b, first.ProjectID, "TOKEN"), "the id and creation time stay")
	all, err := b.Store.All(context.Background(), first.ProjectID)
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func testSameNameInTwoProjects(t *testing.T, b Backend) {
	p1, p2 := b.NewProject(t), b.NewProject(t)
	s1, s2 := newSecret(p1, "KEY", base), newSecret(p2, "KEY", base)
	s2.Ciphertext = []byte("the second project's own ciphertext")
	require.True(t, put(t, b, s1))
	require.True(t, put(t, b, s2))
	require.Equal(t, s1, get(t, b, p1, "KEY"))
	require.Equal(t, s2, get(t, b, p2, "KEY"))
}

func testNotFound(t *testing.T, b Backend) {
	ctx := context.Background()
	project := b.NewProject(t)
	put(t, b, newSecret(project, "EXISTS", base))
	_, err := b.Store.Get(ctx, project, "MISSING")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = b.Store.Get(ctx, b.NewProject(t), "EXISTS")
	require.ErrorIs(t, err, derrors.ErrNotFound, "a name of another project")
	require.ErrorIs(t, b.Store.Delete(ctx, project, "MISSING"), derrors.ErrNotFound)
	require.ErrorIs(t, b.Store.Delete(ctx, b.NewProject(t), "EXISTS"), derrors.ErrNotFound)
}

// testAdmitSeesTheOthers: admit is given the count and ciphertext bytes of
// the project's other secrets, without the one being replaced and without
// other projects'.
func testAdmitSeesTheOthers(t *testing.T, b Backend) {
	project, other := b.NewProject(t), b.NewProject(t)
	put(t, b, newSecret(other, "ELSEWHERE", base))
	var seen []secrets.Usage
	record := func(u secrets.Usage) error { seen = append(seen, u); return nil }
	for i, name := range []string{"A", "B", "A"} {
		s := newSecret(project, name, base)
		s.Ciphertext = bytes.Repeat([]byte("c"), 40+i)
		_, err := b.Store.Put(context.Background(), s, record)
		require.NoError(t, err)
	}
	require.Equal(t, []secrets.Usage{{}, {Count: 1, CiphertextBytes: 40}, {Count: 1, CiphertextBytes: 41}}, seen)
}

func testAdmitErrorAborts(t *testing.T, b Backend) {
	ctx := context.Background()
	kept := newSecret(b.NewProject(t), "KEPT", base)
	put(t, b, kept)
	stop := errors.New("stop")
	refuse := func(secrets.Usage) error { return stop }
	replaced := newSecret(kept.ProjectID, "KEPT", base.Add(time.Hour))
	replaced.Ciphertext = []byte("a replacement that must not be written")
	_, err := b.Store.Put(ctx, replaced, refuse)
	require.Equal(t, stop, err, "admit's error comes back as it is")
	require.Equal(t, kept, get(t, b, kept.ProjectID, "KEPT"))
	_, err = b.Store.Put(ctx, newSecret(kept.ProjectID, "NEW", base), refuse)
	require.Equal(t, stop, err)
	_, err = b.Store.Get(ctx, kept.ProjectID, "NEW")
	require.ErrorIs(t, err, derrors.ErrNotFound)
}

// testConcurrentPutsRespectAdmit has 20 writers add distinct names to one
// project under a limit of 5: exactly 5 are stored, whatever the
// interleaving (the check and the write are one step).
func testConcurrentPutsRespectAdmit(t *testing.T, b Backend) {
	const limit, writers = 5, 20
	project := b.NewProject(t)
	full := errors.New("full")
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = b.Store.Put(context.Background(), newSecret(project, fmt.Sprint("S", i), base), func(u secrets.Usage) error {
				if u.Count >= limit {
					return full
				}
				return nil
			})
		})
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		if err != nil {
			require.Equal(t, full, err)
			refused++
		}
	}
	require.Equal(t, writers-limit, refused)
	all, err := b.Store.All(context.Background(), project)
	require.NoError(t, err)
	require.Len(t, all, limit)
}

func testDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	project := b.NewProject(t)
	gone := newSecret(project, "GONE", base)
	kept := newSecret(project, "KEPT", base.Add(time.Second))
	put(t, b, gone)
	put(t, b, kept)
	require.NoError(t, b.Store.Delete(ctx, project, "GONE"))
	_, err := b.Store.Get(ctx, project, "GONE")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.ErrorIs(t, b.Store.Delete(ctx, project, "GONE"), derrors.ErrNotFound, "a second delete finds nothing")
	all, err := b.Store.All(ctx, project)
	require.NoError(t, err)
	require.Equal(t, []secrets.Secret{*kept}, all)
	require.True(t, put(t, b, newSecret(project, "GONE", base)), "a deleted name can be created again")
}

// testProjectCascade: deleting a project deletes its secrets, and only its
// own, in the same transaction.
func testProjectCascade(t *testing.T, b Backend) {
	ctx := context.Background()
	gone, kept := b.NewProject(t), b.NewProject(t)
	for i := range 3 {
		put(t, b, newSecret(gone, fmt.Sprint("S", i), base))
	}
	other := newSecret(kept, "S0", base)
	put(t, b, other)

	b.DeleteProject(t, gone)
	all, err := b.Store.All(ctx, gone)
	require.NoError(t, err)
	require.Empty(t, all)
	_, err = b.Store.Get(ctx, gone, "S0")
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.Equal(t, other, get(t, b, kept, "S0"))
}

// family is the store as the child checks of contract see it: secrets are
// children of projects. A child's id is its project and name.
func family(t *testing.T, b Backend) contract.Family {
	ctx := context.Background()
	var mu sync.Mutex
	var n int
	return contract.Family{
		Kind:         "project",
		NewParent:    func() string { return b.NewProject(t) },
		DeleteParent: func(id string) { b.DeleteProject(t, id) },
		Create: func(project string) (string, error) {
			mu.Lock()
			n++
			name := fmt.Sprint("CHILD_", n)
			mu.Unlock()
			_, err := b.Store.Put(ctx, newSecret(project, name, base), admitAll)
			return project + "/" + name, err
		},
		Exists: func(id string) bool {
			project, name, _ := strings.Cut(id, "/")
			_, err := b.Store.Get(ctx, project, name)
			if errors.Is(err, derrors.ErrNotFound) {
				return false
			}
			require.NoError(t, err)
			return true
		},
		Count: func(project string) int {
			res, err := b.Store.List(ctx, project, page.Request{})
			require.NoError(t, err)
			return len(res.Items)
		},
	}
}

// testMissingProject: a secret of a project that is gone is refused by
// both backends with the same error.
func testMissingProject(t *testing.T, b Backend) {
	contract.MissingParent(t, family(t, b))
	gone := b.NewProject(t)
	b.DeleteProject(t, gone)
	_, err := b.Store.Put(context.Background(), newSecret(gone, "ORPHAN", base), admitAll)
	require.ErrorIs(t, err, derrors.ErrMissingParent)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "secrets.project_id", ce.What)
}

func testProjectDeletedDuringCreates(t *testing.T, b Backend) {
	contract.ParentDeletedDuringCreates(t, family(t, b))
}

func secretAt(s *secrets.Secret) page.Cursor { return page.Cursor{CreatedAt: s.CreatedAt, ID: s.ID} }

func lister(b Backend, project string) func(page.Request) (page.Result[secrets.Secret], error) {
	return func(req page.Request) (page.Result[secrets.Secret], error) {
		return b.Store.List(context.Background(), project, req)
	}
}

// testListPagesByProject pages through two projects' secrets, interleaved
// and tying in creation time.
func testListPagesByProject(t *testing.T, b Backend) {
	apollo, gemini := b.NewProject(t), b.NewProject(t)
	var all []secrets.Secret
	for i := range 12 {
		project := apollo
		if i%3 == 1 {
			project = gemini
		}
		at := base.Add(time.Duration(i/4) * time.Millisecond) // 4 secrets per instant
		all = append(all, *newSecret(project, fmt.Sprint("S", i), at))
	}
	for _, i := range []int{11, 3, 7, 0, 9, 5, 1, 10, 2, 8, 4, 6} {
		put(t, b, &all[i])
	}
	contract.Sort(all, secretAt)
	for _, project := range []string{apollo, gemini} {
		var want []secrets.Secret
		for _, s := range all {
			if s.ProjectID == project {
				want = append(want, s)
			}
		}
		t.Run("project="+project, func(t *testing.T) { contract.Pages(t, lister(b, project), want, secretAt) })
	}
}

func testListDefaultLimit(t *testing.T, b Backend) {
	project := b.NewProject(t)
	var all []secrets.Secret
	for i := range page.DefaultLimit + 3 {
		s := newSecret(project, fmt.Sprint("S", i), base.Add(time.Duration(i)*time.Microsecond))
		put(t, b, s)
		all = append(all, *s)
	}
	contract.Pages(t, lister(b, project), all, secretAt)
}

func testListEmpty(t *testing.T, b Backend) {
	put(t, b, newSecret(b.NewProject(t), "ELSEWHERE", base))
	contract.Pages(t, lister(b, b.NewProject(t)), nil, secretAt)
}

func testAll(t *testing.T, b Backend) {
	project := b.NewProject(t)
	var want []secrets.Secret
	for i, at := range []time.Duration{3, 1, 2} {
		s := newSecret(project, fmt.Sprint("S", i), base.Add(at*time.Second))
		put(t, b, s)
		want = append(want, *s)
	}
	contract.Sort(want, secretAt)
	got, err := b.Store.All(context.Background(), project)
	require.NoError(t, err)
	require.Equal(t, want, got)
	none, err := b.Store.All(context.Background(), b.NewProject(t))
	require.NoError(t, err)
	require.Empty(t, none)
}
