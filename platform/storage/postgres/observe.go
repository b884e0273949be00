package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// The operations QueryTimer names; any other statement (BEGIN, COMMIT, a
// lock, a NOTIFY) is OpOther, so the names stay few whatever SQL runs.
const (
	OpSelect = "select"
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
	OpOther  = "other"
)

// QueryTimer is a bun query hook that tells observe how long each query
// took, by operation. Add it before the DB serves queries
// (db.AddQueryHook is not safe to call concurrently with them).
type QueryTimer func(op string, took time.Duration)

var _ bun.QueryHook = QueryTimer(nil)

// BeforeQuery implements bun.QueryHook; bun has set the event's StartTime.
func (QueryTimer) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

// AfterQuery implements bun.QueryHook.
func (f QueryTimer) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	f(operation(e), time.Since(e.StartTime))
}

// operation maps a query to one of the Op constants. bun names the
// operation of its query builders (a SELECT with a CTE is a select) and
// takes the first word of raw SQL.
func operation(e *bun.QueryEvent) string {
	op := e.Operation()
	switch {
	case strings.EqualFold(op, "SELECT"):
		return OpSelect
	case strings.EqualFold(op, "INSERT"):
		return OpInsert
	case strings.EqualFold(op, "UPDATE"):
		return OpUpdate
	case strings.EqualFold(op, "DELETE"):
		return OpDelete
	}
	return OpOther
}
