// Package storetest is the contract every runs.Store passes: the same cases,
// with the same answers, run against the JSON store and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/contract"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Backend is a fresh, empty store and a way to make the rows runs refer to.
type Backend struct {
	Store runs.Store
	// Repository returns a new repository (and its project) of owner.
	Repository func(t *testing.T, owner string) (projectID, repositoryID string)
	// DeleteRepository deletes a repository the way the repositories
	// module does; its runs go with it.
	DeleteRepository func(t *testing.T, id string)
}

// Run runs every case on a fresh backend made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"CreateGet", testCreateGet},
		{"NotFound", testNotFound},
		{"Idempotency", testIdempotency},
		{"IdempotencyKeysExpire", testExpireKeys},
		{"QuotaCountsActiveRuns", testQuota},
		{"QuotaIsAtomic", testQuotaAtomic},
		{"Update", testUpdate},
		{"ClaimNextOldestFirst", testClaimNext},
		{"ClaimNextConcurrent", testClaimNextConcurrent},
		{"ListFiltersAndPages", testList},
		{"ListStatusOldestFirst", testListStatus},
		{"DeleteRepositoryRuns", testDeleteRepositoryRuns},
		{"DeletingRepositoryDeletesAndRecordsItsRuns", testRepositoryCascade},
		{"MissingRepositoryIsRefused", testMissingRepository},
		{"RepositoryDeletedDuringCreates", testRepositoryDeletedDuringCreates},
		{"Instances", testInstances},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newBackend(t))
		})
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

func newRun(owner, project, repo string, at time.Time) *runs.Run {
	return &runs.Run{ID: ids.New(runs.IDPrefix), ProjectID: project, RepositoryID: repo, OwnerID: owner,
		Status: runs.StatusQueued, Prompt: "do it", TimeoutSeconds: 60, CreatedAt: at}
}

func testCreateGet(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	run := newRun("usr_a", p, r, base)
	run.Branch, run.IdempotencyKey, run.RequestHash = "main", "k", "h"
	existing, err := b.Store.Create(ctx, run, 5)
	require.NoError(t, err)
	require.Nil(t, existing)
	got, err := b.Store.Get(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, run, got)

	started, finished, code := base.Add(time.Second), base.Add(time.Minute), 3
	got, err = b.Store.Update(ctx, run.ID, func(x *runs.Run) error {
		x.Status, x.StartedAt, x.FinishedAt, x.ExitCode, x.Error = runs.StatusFailed, &started, &finished, &code, "boom"
		x.InstanceID, x.ContainerID, x.CancelRequested, x.LogTruncated = "ins_1", "c1", true, true
		x.Warnings = []string{"the patch contains the value of secret K", "another, with a \"quote\", a comma"}
		return nil
	})
	require.NoError(t, err)
	again, err := b.Store.Get(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Equal(t, []string{"the patch contains the value of secret K", "another, with a \"quote\", a comma"}, again.Warnings)
	require.Equal(t, 3, *again.ExitCode)
	require.True(t, again.LogTruncated)
	require.True(t, again.FinishedAt.Equal(finished))
}

func testNotFound(t *testing.T, b Backend) {
	ctx := context.Background()
	_, err := b.Store.Get(ctx, ids.New(runs.IDPrefix))
	require.ErrorIs(t, err, derrors.ErrNotFound)
	_, err = b.Store.Update(ctx, ids.New(runs.IDPrefix), func(*runs.Run) error { return nil })
	require.ErrorIs(t, err, derrors.ErrNotFound)
	require.NoError(t, b.Store.DeleteInstance(ctx, "ins_absent"))
}

func testIdempotency(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	first := newRun("usr_a", p, r, base)
	first.IdempotencyKey, first.RequestHash = "key", "h1"
	_, err := b.Store.Create(ctx, first, 5)
	require.NoError(t, err)

	second := newRun("usr_a", p, r, base.Add(time.Second))
	second.IdempotencyKey, second.RequestHash = "key", "h2"
	existing, err := b.Store.Create(ctx, second, 5)
	require.NoError(t, err)
	require.Equal(t, first.ID, existing.ID)
	require.Equal(t, "h1", existing.RequestHash)
	_, err = b.Store.Get(ctx, second.ID)
	require.ErrorIs(t, err, derrors.ErrNotFound, "a replay writes nothing")

	// The key is the owner's: another owner may use it.
	p2, r2 := b.Repository(t, "usr_b")
	other := newRun("usr_b", p2, r2, base)
	other.IdempotencyKey = "key"
	existing, err = b.Store.Create(ctx, other, 5)
	require.NoError(t, err)
	require.Nil(t, existing)
	// A replay is answered even when the quota is full.
	existing, err = b.Store.Create(ctx, second, 1)
	require.NoError(t, err)
	require.Equal(t, first.ID, existing.ID)
}

// testExpireKeys forgets keys by age and beyond a count per owner: a
// forgotten key replays nothing and may be used again, and its run stays.
func testExpireKeys(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	pb, rb := b.Repository(t, "usr_b")
	var a []*runs.Run
	for i := range 5 {
		run := newRun("usr_a", p, r, base.Add(time.Duration(i)*time.Second))
		run.IdempotencyKey, run.RequestHash = fmt.Sprintf("key-%d", i), "h"
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
		a = append(a, run)
	}
	unkeyed := newRun("usr_a", p, r, base)
	_, err := b.Store.Create(ctx, unkeyed, 100)
	require.NoError(t, err)
	other := newRun("usr_b", pb, rb, base)
	other.IdempotencyKey, other.RequestHash = "key-0", "h"
	_, err = b.Store.Create(ctx, other, 100)
	require.NoError(t, err)
	keyOf := func(run *runs.Run) string {
		t.Helper()
		got, err := b.Store.Get(ctx, run.ID)
		require.NoError(t, err, "the run stays")
		require.Equal(t, got.IdempotencyKey == "", got.RequestHash == "", "key and hash go together")
		return got.IdempotencyKey
	}

	// By age, one owner's.
	n, err := b.Store.ExpireKeys(ctx, "usr_a", base.Add(2*time.Second), 0)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"", "", "key-2"}, []string{keyOf(a[0]), keyOf(a[1]), keyOf(a[2])})
	require.Equal(t, "key-0", keyOf(other), "another owner's keys stay")
	again := newRun("usr_a", p, r, base.Add(10*time.Second))
	again.IdempotencyKey, again.RequestHash = "key-0", "h"
	existing, err := b.Store.Create(ctx, again, 100)
	require.NoError(t, err)
	require.Nil(t, existing, "an expired key names no run")

	// By count: the two newest keys of the owner stay.
	n, err = b.Store.ExpireKeys(ctx, "usr_a", time.Time{}, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"", "", "key-4", "key-0"}, []string{keyOf(a[2]), keyOf(a[3]), keyOf(a[4]), keyOf(again)})
	n, err = b.Store.ExpireKeys(ctx, "usr_a", time.Time{}, 2)
	require.NoError(t, err)
	require.Zero(t, n)

	// By age, every owner's.
	n, err = b.Store.ExpireKeys(ctx, "", base.Add(5*time.Second), 0)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"", "", "key-0"}, []string{keyOf(a[4]), keyOf(other), keyOf(again)})
	require.Empty(t, keyOf(unkeyed))
}

func testQuota(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	var made []*runs.Run
	for i := range 2 {
		run := newRun("usr_a", p, r, base.Add(time.Duration(i)*time.Second))
		_, err := b.Store.Create(ctx, run, 2)
		require.NoError(t, err)
		made = append(made, run)
	}
	_, err := b.Store.Create(ctx, newRun("usr_a", p, r, base), 2)
	require.ErrorIs(t, err, runs.ErrQuotaExceeded)
	_, err = b.Store.Update(ctx, made[0].ID, func(x *runs.Run) error { x.Status = runs.StatusRunning; return nil })
	require.NoError(t, err)
	_, err = b.Store.Create(ctx, newRun("usr_a", p, r, base), 2)
	require.ErrorIs(t, err, runs.ErrQuotaExceeded, "running runs count")
	_, err = b.Store.Update(ctx, made[0].ID, func(x *runs.Run) error { x.Status = runs.StatusSucceeded; return nil })
	require.NoError(t, err)
	_, err = b.Store.Create(ctx, newRun("usr_a", p, r, base), 2)
	require.NoError(t, err, "finished runs do not count")
}

func testQuotaAtomic(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	var wg sync.WaitGroup
	var mu sync.Mutex
	made, refused := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Store.Create(ctx, newRun("usr_a", p, r, base.Add(time.Duration(i)*time.Millisecond)), 3)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made++
			case errors.Is(err, runs.ErrQuotaExceeded):
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 3, made)
	require.Equal(t, 13, refused)
}

func testUpdate(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	run := newRun("usr_a", p, r, base)
	_, err := b.Store.Create(ctx, run, 5)
	require.NoError(t, err)
	boom := errors.New("boom")
	_, err = b.Store.Update(ctx, run.ID, func(x *runs.Run) error { x.Status = runs.StatusFailed; return boom })
	require.ErrorIs(t, err, boom)
	got, err := b.Store.Get(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, runs.StatusQueued, got.Status, "a failed update changes nothing")

	// Concurrent claims: exactly one moves the run out of queued.
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Store.Update(ctx, run.ID, func(x *runs.Run) error {
				if x.Status != runs.StatusQueued {
					return boom
				}
				x.Status = runs.StatusPreparing
				return nil
			})
			if err == nil {
				mu.Lock()
				claims++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, claims)
}

// testClaimNext claims queued runs oldest first (the id breaks a tie of
// creation times), passing over runs in other statuses, and finds none once
// every queued run is claimed.
func testClaimNext(t *testing.T, b Backend) {
	ctx := context.Background()
	none, err := b.Store.ClaimNext(ctx, "ins_a")
	require.NoError(t, err)
	require.Nil(t, none, "nothing queued")

	p, r := b.Repository(t, "usr_a")
	var want []string
	for i, st := range []runs.Status{runs.StatusQueued, runs.StatusRunning, runs.StatusQueued, runs.StatusCanceled, runs.StatusQueued} {
		run := newRun("usr_a", p, r, base.Add(time.Duration(5-i)*time.Second)) // created in reverse order
		run.Status = st
		if i == 4 {
			run.CreatedAt = base.Add(time.Second * 3) // ties with i == 2: the smaller id goes first
		}
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
		if st == runs.StatusQueued {
			want = append(want, run.ID)
		}
	}
	slices.SortFunc(want, func(x, y string) int {
		a, _ := b.Store.Get(ctx, x)
		c, _ := b.Store.Get(ctx, y)
		if d := a.CreatedAt.Compare(c.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(x, y)
	})
	var got []string
	for {
		run, err := b.Store.ClaimNext(ctx, "ins_a")
		require.NoError(t, err)
		if run == nil {
			break
		}
		require.Equal(t, runs.StatusPreparing, run.Status)
		require.Equal(t, "ins_a", run.InstanceID)
		stored, err := b.Store.Get(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, *run, *stored, "the claim is stored as returned")
		got = append(got, run.ID)
	}
	require.Equal(t, want, got, "oldest first")
	left, err := b.Store.ListStatus(ctx, runs.StatusQueued)
	require.NoError(t, err)
	require.Empty(t, left)
}

// testClaimNextConcurrent lets claimers race over many queued runs: each
// run is claimed exactly once, and every run is claimed.
func testClaimNextConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	const n, claimers = 60, 8
	for i := range n {
		_, err := b.Store.Create(ctx, newRun("usr_a", p, r, base.Add(time.Duration(i%7)*time.Millisecond)), n)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	byRun := map[string][]string{}
	var wg sync.WaitGroup
	for c := range claimers {
		instance := "ins_" + strconv.Itoa(c)
		wg.Go(func() {
			for {
				run, err := b.Store.ClaimNext(ctx, instance)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if run == nil {
					return
				}
				mu.Lock()
				byRun[run.ID] = append(byRun[run.ID], instance)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, byRun, n, "every run claimed")
	for id, by := range byRun {
		require.Len(t, by, 1, "run %s claimed by %v", id, by)
		stored, err := b.Store.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, by[0], stored.InstanceID, "the store names the one claimer")
	}
}

// testList pages through runs filtered every way the API can, with creation
// times that tie, so the id must break ties in the order and the cursors.
func testList(t *testing.T, b Backend) {
	ctx := context.Background()
	pa, ra := b.Repository(t, "usr_a")
	pa2, ra2 := b.Repository(t, "usr_a")
	pb, rb := b.Repository(t, "usr_b")
	var made []runs.Run
	for i := range 7 {
		repo := ra
		if i%3 == 2 {
			repo = ra2
		}
		run := newRun("usr_a", pa, repo, base.Add(time.Duration(i/2)*time.Second)) // some share a time
		if i%2 == 1 {
			run.Status = runs.StatusSucceeded
		}
		if repo == ra2 {
			run.ProjectID = pa2
		}
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
		made = append(made, *run)
	}
	other := newRun("usr_b", pb, rb, base)
	_, err := b.Store.Create(ctx, other, 100)
	require.NoError(t, err)
	everyone := append(slices.Clone(made), *other)
	contract.Sort(made, runAt)
	contract.Sort(everyone, runAt)

	where := func(keep func(*runs.Run) bool) []runs.Run {
		var out []runs.Run
		for i := range made {
			if keep(&made[i]) {
				out = append(out, made[i])
			}
		}
		return out
	}
	cases := []struct {
		name   string
		filter runs.Filter
		want   []runs.Run
	}{
		{"owner", runs.Filter{OwnerID: "usr_a"}, made},
		{"owner and status", runs.Filter{OwnerID: "usr_a", Status: runs.StatusSucceeded},
			where(func(r *runs.Run) bool { return r.Status == runs.StatusSucceeded })},
		{"owner and repository", runs.Filter{OwnerID: "usr_a", RepositoryID: ra2},
			where(func(r *runs.Run) bool { return r.RepositoryID == ra2 })},
		{"owner, project and status", runs.Filter{OwnerID: "usr_a", ProjectID: pa, Status: runs.StatusQueued},
			where(func(r *runs.Run) bool { return r.ProjectID == pa && r.Status == runs.StatusQueued })},
		{"everyone", runs.Filter{}, everyone},
		{"another owner's repository", runs.Filter{RepositoryID: rb}, []runs.Run{*other}},
		{"an owner with none", runs.Filter{OwnerID: "usr_c"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			contract.Pages(t, func(req page.Request) (page.Result[runs.Run], error) {
				return b.Store.List(ctx, c.filter, req)
			}, c.want, runAt)
		})
	}
}

func runAt(r *runs.Run) page.Cursor {
	return page.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
}

func testListStatus(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	var queued []string
	for i := range 5 {
		run := newRun("usr_a", p, r, base.Add(time.Duration(5-i)*time.Second)) // created in reverse order
		if i == 2 {
			run.Status = runs.StatusRunning
		} else {
			queued = append([]string{run.ID}, queued...)
		}
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
	}
	got, err := b.Store.ListStatus(ctx, runs.StatusQueued)
	require.NoError(t, err)
	var gotIDs []string
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	require.Equal(t, queued, gotIDs, "oldest first")
	got, err = b.Store.ListStatus(ctx, runs.StatusPreparing, runs.StatusRunning)
	require.NoError(t, err)
	require.Len(t, got, 1)
}

func testDeleteRepositoryRuns(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	p2, r2 := b.Repository(t, "usr_a")
	var gone []string
	for i := range 3 {
		run := newRun("usr_a", p, r, base.Add(time.Duration(i)*time.Second))
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
		gone = append(gone, run.ID)
	}
	kept := newRun("usr_a", p2, r2, base)
	_, err := b.Store.Create(ctx, kept, 100)
	require.NoError(t, err)
	repos, err := b.Store.RepositoryIDs(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{r, r2}, repos)

	n, err := b.Store.DeleteRepositoryRuns(ctx, r)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for _, id := range gone {
		_, err := b.Store.Get(ctx, id)
		require.ErrorIs(t, err, derrors.ErrNotFound)
	}
	deleted, err := b.Store.Deleted(ctx, 2)
	require.NoError(t, err)
	require.Len(t, deleted, 2)
	require.NoError(t, b.Store.Forget(ctx, deleted))
	rest, err := b.Store.Deleted(ctx, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, gone, append(deleted, rest...))
	require.NoError(t, b.Store.Forget(ctx, rest))
	rest, err = b.Store.Deleted(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, rest)
	_, err = b.Store.Get(ctx, kept.ID)
	require.NoError(t, err)
}

// testRepositoryCascade: deleting a repository deletes its runs in the same
// transaction and records them for the worker to remove their objects (a
// trigger on PostgreSQL, OnDelete on the JSON store).
func testRepositoryCascade(t *testing.T, b Backend) {
	ctx := context.Background()
	p, r := b.Repository(t, "usr_a")
	p2, r2 := b.Repository(t, "usr_a")
	var gone []string
	for i := range 3 {
		run := newRun("usr_a", p, r, base.Add(time.Duration(i)*time.Second))
		_, err := b.Store.Create(ctx, run, 100)
		require.NoError(t, err)
		gone = append(gone, run.ID)
	}
	kept := newRun("usr_a", p2, r2, base)
	_, err := b.Store.Create(ctx, kept, 100)
	require.NoError(t, err)

	b.DeleteRepository(t, r)
	for _, id := range gone {
		_, err := b.Store.Get(ctx, id)
		require.ErrorIs(t, err, derrors.ErrNotFound)
	}
	deleted, err := b.Store.Deleted(ctx, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, gone, deleted)
	_, err = b.Store.Get(ctx, kept.ID)
	require.NoError(t, err)
}

// family is the store as the child checks of contract see it: runs are
// children of repositories.
func family(t *testing.T, b Backend) contract.Family {
	ctx := context.Background()
	var mu sync.Mutex
	projectOf := map[string]string{}
	return contract.Family{
		Kind: "repository",
		NewParent: func() string {
			p, r := b.Repository(t, "usr_a")
			mu.Lock()
			projectOf[r] = p
			mu.Unlock()
			return r
		},
		DeleteParent: func(id string) { b.DeleteRepository(t, id) },
		Create: func(repo string) (string, error) {
			mu.Lock()
			run := newRun("usr_a", projectOf[repo], repo, base)
			mu.Unlock()
			_, err := b.Store.Create(ctx, run, 1<<20)
			return run.ID, err
		},
		Exists: func(id string) bool {
			_, err := b.Store.Get(ctx, id)
			if errors.Is(err, derrors.ErrNotFound) {
				return false
			}
			require.NoError(t, err)
			return true
		},
		Count: func(repo string) int {
			res, err := b.Store.List(ctx, runs.Filter{RepositoryID: repo}, page.Request{})
			require.NoError(t, err)
			return len(res.Items)
		},
	}
}

// testMissingRepository: a run of a repository that is gone is refused by
// both backends with the same error, a conflict on its repository_id, and
// the service's helper makes that the repository's not found.
func testMissingRepository(t *testing.T, b Backend) {
	contract.MissingParent(t, family(t, b))
	p, r := b.Repository(t, "usr_a")
	b.DeleteRepository(t, r)
	_, err := b.Store.Create(context.Background(), newRun("usr_a", p, r, base), 5)
	require.ErrorIs(t, err, derrors.ErrMissingParent)
	var ce *derrors.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "runs.repository_id", ce.What)
}

// testRepositoryDeletedDuringCreates: a repository deleted while runs are
// being created on it leaves none behind.
func testRepositoryDeletedDuringCreates(t *testing.T, b Backend) {
	contract.ParentDeletedDuringCreates(t, family(t, b))
}

func testInstances(t *testing.T, b Backend) {
	ctx := context.Background()
	a := runs.Instance{ID: "ins_a", Hostname: "h", BootID: "b", PID: 42, StartedAt: base, HeartbeatAt: base}
	require.NoError(t, b.Store.PutInstance(ctx, &a))
	a.HeartbeatAt = base.Add(time.Minute)
	require.NoError(t, b.Store.PutInstance(ctx, &a))
	c := runs.Instance{ID: "ins_c", Hostname: "h2", PID: 7, StartedAt: base, HeartbeatAt: base}
	require.NoError(t, b.Store.PutInstance(ctx, &c))
	got, err := b.Store.Instances(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []runs.Instance{a, c}, got)
	require.NoError(t, b.Store.DeleteInstance(ctx, "ins_a"))
	got, err = b.Store.Instances(ctx)
	require.NoError(t, err)
	require.Equal(t, []runs.Instance{c}, got)
}
