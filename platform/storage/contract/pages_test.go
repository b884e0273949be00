package contract

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

type item struct {
	ID        string
	CreatedAt time.Time
}

func itemAt(it *item) page.Cursor { return page.Cursor{CreatedAt: it.CreatedAt, ID: it.ID} }

var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// items makes n items, three to an instant, in list order.
func items(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{ID: fmt.Sprintf("i%02d", i), CreatedAt: base.Add(time.Duration(i/3) * time.Second)}
	}
	return out
}

// lister is a correct list over all, with the page size as stores clamp it.
func lister(all []item) func(page.Request) (page.Result[item], error) {
	return func(req page.Request) (page.Result[item], error) {
		limit := req.Limit
		if limit <= 0 {
			limit = page.DefaultLimit
		}
		limit = min(limit, page.MaxLimit)
		res := page.Result[item]{Items: []item{}}
		for i := range all {
			if !req.After.IsZero() && req.After.Before(all[i].CreatedAt, all[i].ID) {
				continue
			}
			if len(res.Items) == limit {
				res.Next = itemAt(&res.Items[limit-1])
				break
			}
			res.Items = append(res.Items, all[i])
		}
		return res, nil
	}
}

// recorder is the test's testing.TB but records a failure instead of
// failing the test, so that the checks' own failures can be tested.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

// run runs Pages on a recorder, in its own goroutine as FailNow ends it.
func run(t *testing.T, list func(page.Request) (page.Result[item], error), want []item) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Pages(r, list, want, itemAt)
	}()
	<-done
	return r
}

func TestLimits(t *testing.T) {
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, page.MaxLimit}, Limits(0))
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, page.MaxLimit}, Limits(2))
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 11, 12, 13, page.MaxLimit}, Limits(12))
}

func TestSort(t *testing.T) {
	want := items(7)
	got := []item{want[4], want[0], want[6], want[2], want[5], want[1], want[3]}
	Sort(got, itemAt)
	require.Equal(t, want, got)
}

func TestPagesPassesCorrectLists(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 12, page.DefaultLimit, page.DefaultLimit + 3} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			all := items(n)
			r := run(t, lister(all), all)
			require.False(t, r.failed, "%s", strings.Join(r.msgs, "\n"))
		})
	}
}

func TestPagesCatches(t *testing.T) {
	all := items(12)
	correct := lister(all)
	cases := []struct {
		name string
		list func(page.Request) (page.Result[item], error)
		want []item
		says string
	}{
		{"a missing item", lister(append(append([]item{}, all[:5]...), all[6:]...)), all, "items"},
		{"an extra item", lister(append(append([]item{}, all...), item{ID: "zz", CreatedAt: base.Add(time.Hour)})), all, "items"},
		{"want out of order", correct, append([]item{all[1], all[0]}, all[2:]...), "list order"},
		{"ties broken against the id", func(req page.Request) (page.Result[item], error) {
			res, err := correct(req)
			if len(res.Items) > 1 && res.Items[0].CreatedAt.Equal(res.Items[1].CreatedAt) {
				res.Items[0], res.Items[1] = res.Items[1], res.Items[0]
			}
			return res, err
		}, all, "items"},
		{"the limit ignored", func(req page.Request) (page.Result[item], error) {
			return correct(page.Request{Limit: page.MaxLimit, After: req.After})
		}, all, "items"},
		{"the cursor ignored", func(req page.Request) (page.Result[item], error) {
			return correct(page.Request{Limit: req.Limit})
		}, all, "items"},
		{"a Next before the last item", func(req page.Request) (page.Result[item], error) {
			res, err := correct(req)
			if !res.Next.IsZero() {
				res.Next.ID = res.Next.ID[:len(res.Next.ID)-1]
			}
			return res, err
		}, all, "Next is not the last item"},
		{"Next at the end", func(req page.Request) (page.Result[item], error) {
			res, err := correct(req)
			if res.Next.IsZero() && len(res.Items) > 0 {
				res.Next = itemAt(&res.Items[len(res.Items)-1])
			}
			return res, err
		}, all, "Next is not zero"},
		{"no Next before the end", func(req page.Request) (page.Result[item], error) {
			res, err := correct(req)
			res.Next = page.Cursor{}
			return res, err
		}, all, "Next is not the last item"},
		{"nil Items", func(req page.Request) (page.Result[item], error) {
			return page.Result[item]{}, nil
		}, nil, "Items is nil"},
		{"an error", func(req page.Request) (page.Result[item], error) {
			return page.Result[item]{}, errors.New("store down")
		}, all, "store down"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.list, c.want)
			require.True(t, r.failed, "Check passed a list with %s", c.name)
			require.Contains(t, strings.Join(r.msgs, "\n"), c.says)
		})
	}
}
