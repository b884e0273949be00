package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// The helpers below are the parts every domain store's table shares: a
// row keyed by a text column "id", and lists ordered by (created_at, id).
// They live here once so that the locking, the not-found rule and the
// keyset paging cannot drift apart between stores; each store keeps its
// own row type, conversions and error translation.

// Time returns t as a timestamptz column keeps it: in UTC, to the
// microsecond. Stores convert every time they write or compare with it, so
// what a caller gets back equals what it read before, and a page cursor
// made from a returned item selects exactly the rows after that item.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// UpdateByID is the read-modify-write of the row of R whose id is id. In
// one transaction it locks the row (SELECT … FOR UPDATE), so concurrent
// updates of one row queue up and none is lost; passes it to change, which
// returns the row to write or an error that abandons the update; writes the
// returned row by its primary key; then calls written, when not nil, with
// the transaction, for work that must commit or roll back with the write
// (a NOTIFY, say). It returns the row as written.
//
// change's own error is returned unchanged, so the caller's validation and
// domain errors reach the service as they were made. Any other error is
// wrapped once as "op(id): …": derrors.ErrNotFound when no row has id, a
// driver error after translate. The key is change's to keep: a row it
// returns with another primary key updates that other row.
func UpdateByID[R any](ctx context.Context, db *bun.DB, op, id string, translate func(error) error,
	change func(row *R) (*R, error), written func(ctx context.Context, tx bun.Tx) error) (*R, error) {
	var out *R
	var changeErr error
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row := new(R)
		if err := tx.NewSelect().Model(row).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return derrors.ErrNotFound
			}
			return err
		}
		next, err := change(row)
		if err != nil {
			changeErr = err
			return err
		}
		if _, err := tx.NewUpdate().Model(next).WherePK().Exec(ctx); err != nil {
			return err
		}
		if written != nil {
			if err := written(ctx, tx); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	switch {
	case changeErr != nil:
		return nil, changeErr
	case errors.Is(err, derrors.ErrNotFound):
		return nil, fmt.Errorf("%s(%q): %w", op, id, err)
	case err != nil:
		return nil, fmt.Errorf("%s(%q): %w", op, id, translate(err))
	}
	return out, nil
}

// DeleteByID deletes the row of R whose id is id and returns
// derrors.ErrNotFound when there was none, so deleting a missing resource
// reads as not found rather than as a success. Driver errors are returned
// as they are, for the store to translate with the constraints it knows.
func DeleteByID[R any](ctx context.Context, db bun.IDB, id string) error {
	res, err := db.NewDelete().Model((*R)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return derrors.ErrNotFound
	}
	return nil
}

// Page runs q, a select of rows of R carrying only the caller's filters, as
// one page of a keyset list: req.Limit clamped to page.DefaultLimit and
// page.MaxLimit, rows strictly after req.After in (created_at, id) order. A
// row-value comparison on (created_at, id) lets an index on those columns
// (after the filtered ones) answer in order without OFFSET, so a page costs
// the same however deep it is. One row more than the limit is read to learn
// whether another page follows; it is not returned, and Next is then the
// cursor of the last item. item converts a row and cursor gives an item's
// position. Driver errors are returned as they are, for the store to
// translate.
func Page[R, T any](ctx context.Context, q *bun.SelectQuery, req page.Request,
	item func(*R) *T, cursor func(*T) page.Cursor) (page.Result[T], error) {
	limit := req.Limit
	if limit <= 0 {
		limit = page.DefaultLimit
	}
	limit = min(limit, page.MaxLimit)
	var rows []R
	q = q.Model(&rows).OrderExpr("created_at, id").Limit(limit + 1)
	if !req.After.IsZero() {
		q = q.Where("(created_at, id) > (?, ?)", Time(req.After.CreatedAt), req.After.ID)
	}
	if err := q.Scan(ctx); err != nil {
		return page.Result[T]{}, err
	}
	n := min(len(rows), limit)
	res := page.Result[T]{Items: make([]T, 0, n)}
	for i := range rows[:n] {
		res.Items = append(res.Items, *item(&rows[i]))
	}
	if len(rows) > limit {
		res.Next = cursor(&res.Items[limit-1])
	}
	return res, nil
}
