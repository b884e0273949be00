package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// itemRow is the table the row helpers are tried on: keyed by id, listed
// by (created_at, id), with a unique name to raise a driver error.
type itemRow struct {
	bun.BaseModel `bun:"table:items"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name"`
	Group     string    `bun:"grp"`
	N         int       `bun:"n"`
	CreatedAt time.Time `bun:"created_at"`
}

type item struct {
	ID        string
	Group     string
	N         int
	CreatedAt time.Time
}

func (r *itemRow) item() *item {
	return &item{ID: r.ID, Group: r.Group, N: r.N, CreatedAt: r.CreatedAt.UTC()}
}

func itemCursor(it *item) page.Cursor { return page.Cursor{CreatedAt: it.CreatedAt, ID: it.ID} }

// itemsDB opens a fresh database holding the items table.
func itemsDB(t *testing.T) *bun.DB {
	t.Helper()
	db := pgtest.Open(t, pgtest.NewEmptyDB(t))
	_, err := db.ExecContext(context.Background(), `CREATE TABLE items (
		id text PRIMARY KEY, name text NOT NULL UNIQUE, grp text NOT NULL DEFAULT '',
		n int NOT NULL DEFAULT 0, created_at timestamptz NOT NULL)`)
	require.NoError(t, err)
	return db
}

func insertItems(t *testing.T, db *bun.DB, rows ...*itemRow) {
	t.Helper()
	for _, r := range rows {
		if r.Name == "" {
			r.Name = "name-" + r.ID
		}
		_, err := db.NewInsert().Model(r).Exec(context.Background())
		require.NoError(t, err)
	}
}

// translateItems maps the unique name to a conflict, as a store's translate does.
func translateItems(err error) error {
	if postgres.SQLState(err) == postgres.CodeUniqueViolation {
		return derrors.Conflict("items.name", err)
	}
	return postgres.Translate(err)
}

func TestTime(t *testing.T) {
	east := time.FixedZone("east", 3*3600)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"utc microseconds stay", time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)},
		{"nanoseconds are cut", time.Date(2025, 1, 2, 3, 4, 5, 6999, time.UTC), time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)},
		{"zones become utc", time.Date(2025, 1, 2, 6, 4, 5, 0, east), time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postgres.Time(tt.in)
			require.Equal(t, tt.want, got)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

// TestTimeRoundTrips checks that a time written through Time reads back
// equal, which is what lets stores compare what they wrote with what they read.
func TestTimeRoundTrips(t *testing.T) {
	db := itemsDB(t)
	at := postgres.Time(time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", -7200)))
	insertItems(t, db, &itemRow{ID: "a", CreatedAt: at})
	var row itemRow
	require.NoError(t, db.NewSelect().Model(&row).Where("id = 'a'").Scan(context.Background()))
	require.Equal(t, at, row.CreatedAt.UTC())
}

func update(t *testing.T, db *bun.DB, id string, change func(*itemRow) (*itemRow, error),
	written func(context.Context, bun.Tx) error) (*itemRow, error) {
	t.Helper()
	return postgres.UpdateByID(context.Background(), db, "items.Update", id, translateItems, change, written)
}

func getItem(t *testing.T, db *bun.DB, id string) itemRow {
	t.Helper()
	var row itemRow
	require.NoError(t, db.NewSelect().Model(&row).Where("id = ?", id).Scan(context.Background()))
	return row
}

func TestUpdateByID(t *testing.T) {
	db := itemsDB(t)
	at := postgres.Time(time.Now())
	insertItems(t, db, &itemRow{ID: "a", N: 1, CreatedAt: at}, &itemRow{ID: "b", Name: "taken", CreatedAt: at})

	t.Run("writes what change returns", func(t *testing.T) {
		got, err := update(t, db, "a", func(r *itemRow) (*itemRow, error) {
			r.N = 10
			return r, nil
		}, nil)
		require.NoError(t, err)
		require.Equal(t, 10, got.N)
		require.Equal(t, 10, getItem(t, db, "a").N)
	})
	t.Run("missing row is not found, wrapped once", func(t *testing.T) {
		called := false
		_, err := update(t, db, "nope", func(r *itemRow) (*itemRow, error) { called = true; return r, nil }, nil)
		require.ErrorIs(t, err, derrors.ErrNotFound)
		require.EqualError(t, err, `items.Update("nope"): not found`)
		require.False(t, called)
	})
	t.Run("change's error is returned unchanged and nothing is written", func(t *testing.T) {
		stop := errors.New("stop")
		_, err := update(t, db, "a", func(r *itemRow) (*itemRow, error) {
			r.N = 99
			return r, stop
		}, nil)
		require.Same(t, stop, err)
		require.Equal(t, 10, getItem(t, db, "a").N)
	})
	t.Run("driver errors are translated and wrapped", func(t *testing.T) {
		_, err := update(t, db, "a", func(r *itemRow) (*itemRow, error) {
			r.Name = "taken"
			return r, nil
		}, nil)
		require.ErrorIs(t, err, derrors.ErrConflict)
		var ce *derrors.ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "items.name", ce.What)
		require.ErrorContains(t, err, `items.Update("a"): `)
	})
	t.Run("written runs in the transaction and its error rolls the write back", func(t *testing.T) {
		_, err := update(t, db, "a", func(r *itemRow) (*itemRow, error) {
			r.N = 20
			return r, nil
		}, func(ctx context.Context, tx bun.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT n FROM items WHERE id = 'a'").Scan(&n); err != nil {
				return err
			}
			if n != 20 {
				return fmt.Errorf("written saw n=%d before the write", n)
			}
			_, err := tx.ExecContext(ctx, "SELECT * FROM no_such_table")
			return err
		})
		require.Error(t, err)
		require.Equal(t, "42P01", postgres.SQLState(err))
		require.ErrorContains(t, err, `items.Update("a"): `)
		require.Equal(t, 10, getItem(t, db, "a").N)
	})
}

// TestUpdateByIDLosesNoUpdate runs concurrent increments of one row: the
// row lock makes them queue, so every one counts.
func TestUpdateByIDLosesNoUpdate(t *testing.T) {
	db := itemsDB(t)
	insertItems(t, db, &itemRow{ID: "a", CreatedAt: postgres.Time(time.Now())})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := postgres.UpdateByID(context.Background(), db, "items.Update", "a", translateItems,
					func(r *itemRow) (*itemRow, error) { r.N++; return r, nil }, nil)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, workers*each, getItem(t, db, "a").N)
}

func TestDeleteByID(t *testing.T) {
	db := itemsDB(t)
	ctx := context.Background()
	insertItems(t, db, &itemRow{ID: "a", CreatedAt: postgres.Time(time.Now())}, &itemRow{ID: "b", CreatedAt: postgres.Time(time.Now())})

	require.NoError(t, postgres.DeleteByID[itemRow](ctx, db, "a"))
	n, err := db.NewSelect().Model((*itemRow)(nil)).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the row with the id is deleted")

	err = postgres.DeleteByID[itemRow](ctx, db, "a")
	require.Same(t, derrors.ErrNotFound, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = postgres.DeleteByID[itemRow](cancelled, db, "b")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, derrors.ErrNotFound)
}

func TestPage(t *testing.T) {
	db := itemsDB(t)
	ctx := context.Background()
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	// 130 rows in two groups, three to a time stamp so ties on created_at
	// are broken by id; inserted out of order.
	var want []string
	for i := 129; i >= 0; i-- {
		grp := "odd"
		if i%2 == 0 {
			grp = "even"
		}
		insertItems(t, db, &itemRow{ID: fmt.Sprintf("i%03d", i), Group: grp, CreatedAt: base.Add(time.Duration(i/3) * time.Second)})
	}
	for i := range 130 {
		want = append(want, fmt.Sprintf("i%03d", i))
	}
	walk := func(t *testing.T, group string, limit int) (ids []string, sizes []int) {
		t.Helper()
		req := page.Request{Limit: limit}
		for {
			q := db.NewSelect()
			if group != "" {
				q = q.Where("grp = ?", group)
			}
			res, err := postgres.Page(ctx, q, req, (*itemRow).item, itemCursor)
			require.NoError(t, err)
			sizes = append(sizes, len(res.Items))
			for _, it := range res.Items {
				if group != "" {
					require.Equal(t, group, it.Group)
				}
				ids = append(ids, it.ID)
			}
			if res.Next.IsZero() {
				return ids, sizes
			}
			last := res.Items[len(res.Items)-1]
			require.Equal(t, itemCursor(&last), res.Next)
			req.After = res.Next
		}
	}
	tests := []struct {
		name      string
		group     string
		limit     int
		wantSizes []int
	}{
		{"default limit", "", 0, []int{page.DefaultLimit, 20, 20, 20, 20, 20, 10}},
		{"limit above the maximum is clamped", "", 1000, []int{page.MaxLimit, 30}},
		{"exact fit has no empty last page", "", 65, []int{65, 65}},
		{"filters stay", "even", 7, []int{7, 7, 7, 7, 7, 7, 7, 7, 7, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, sizes := walk(t, tt.group, tt.limit)
			require.Equal(t, tt.wantSizes, sizes)
			if tt.group == "" {
				require.Equal(t, want, ids)
				return
			}
			var wantGroup []string
			for i, id := range want {
				if i%2 == 0 {
					wantGroup = append(wantGroup, id)
				}
			}
			require.Equal(t, wantGroup, ids)
		})
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	res, err := postgres.Page(cancelled, db.NewSelect(), page.Request{}, (*itemRow).item, itemCursor)
	require.Error(t, err)
	require.Empty(t, res.Items)
}

func TestLookupGet(t *testing.T) {
	db := itemsDB(t)
	at := postgres.Time(time.Now())
	insertItems(t, db, &itemRow{ID: "a", N: 3, CreatedAt: at})
	byID := postgres.NewLookup[itemRow](db, "id")
	for range 2 { // the second round uses the prepared statement
		var row itemRow
		require.NoError(t, byID.Get(context.Background(), &row, "a"))
		require.Equal(t, 3, row.N)
		require.Equal(t, at, row.CreatedAt.UTC())
		require.Same(t, derrors.ErrNotFound, byID.Get(context.Background(), &row, "nope"))
	}
}
