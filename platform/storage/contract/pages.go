// Package contract holds the checks every store's contract suite makes the
// same way, so the mechanics live here once and each suite (modules/*/storetest)
// only says which records to use: Pages checks a list against the page
// contract (items in (created_at, id) order, cursors that resume exactly after
// the last item even across equal creation times, a zero Next exactly at the
// end); Increments checks that concurrent read-modify-writes lose nothing;
// MissingParent and ParentDeletedDuringCreates check that a child never
// outlives, nor is created without, its parent.
package contract

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Compare orders two positions as lists do: by creation time, then by id.
func Compare(a, b page.Cursor) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Sort sorts items into list order, each item's position given by at.
func Sort[T any](items []T, at func(*T) page.Cursor) {
	slices.SortFunc(items, func(a, b T) int { return Compare(at(&a), at(&b)) })
}

// Limits returns the page sizes Check tries for a list of n items: unset
// (page.DefaultLimit), 1 to 5, n-1, n, n+1 and page.MaxLimit, so that pages
// end both inside and exactly at the end of the list.
func Limits(n int) []int {
	limits := []int{0, 1, 2, 3, 4, 5, n - 1, n, n + 1, page.MaxLimit}
	slices.Sort(limits)
	return slices.DeleteFunc(slices.Compact(limits), func(l int) bool { return l < 0 })
}

// Check requires that list, paged from the start with each of Limits(len(want)),
// returns exactly want, whose items must already be in list order (see Sort).
// Every page must be the next slice of want, as long as the limit allows and
// never empty unless want is; its Items must not be nil (they are encoded as a
// JSON array); Next must be the position of its last item, given by at, while
// items follow and zero exactly at the end; and each cursor is passed back in
// the opaque form the API uses.
func Pages[T any](t testing.TB, list func(req page.Request) (page.Result[T], error), want []T, at func(*T) page.Cursor) {
	t.Helper()
	for i := 1; i < len(want); i++ {
		require.Negative(t, Compare(at(&want[i-1]), at(&want[i])), "want[%d] and want[%d] are not in list order", i-1, i)
	}
	for _, limit := range Limits(len(want)) {
		size := limit
		if size == 0 {
			size = page.DefaultLimit
		}
		var after page.Cursor
		for off, pages := 0, 1; ; pages++ {
			res, err := list(page.Request{Limit: limit, After: after})
			require.NoError(t, err, "limit %d, page %d", limit, pages)
			require.NotNil(t, res.Items, "limit %d, page %d: Items is nil", limit, pages)
			end := min(off+size, len(want))
			require.Equal(t, append([]T{}, want[off:end]...), res.Items, "limit %d, page %d: items %d to %d", limit, pages, off, end)
			off = end
			if off == len(want) {
				require.True(t, res.Next.IsZero(), "limit %d, page %d: Next is not zero at the end of the list", limit, pages)
				break
			}
			require.Equal(t, at(&res.Items[len(res.Items)-1]), res.Next, "limit %d, page %d: Next is not the last item", limit, pages)
			after, err = page.Decode(page.Encode(res.Next))
			require.NoError(t, err, "limit %d, page %d: decode Next", limit, pages)
		}
	}
}
