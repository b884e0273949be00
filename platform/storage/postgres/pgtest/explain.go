package pgtest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
)

// Recorder is a bun query hook that keeps the last statement run, so a test
// can EXPLAIN exactly the SQL a store sends.
type Recorder struct {
	mu    sync.Mutex
	query string
}

// Record adds a Recorder to db.
func Record(db *bun.DB) *Recorder {
	r := &Recorder{}
	db.AddQueryHook(r)
	return r
}

// BeforeQuery implements bun.QueryHook.
func (r *Recorder) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

// AfterQuery implements bun.QueryHook.
func (r *Recorder) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.query = e.Query
}

// Last returns the last statement run.
func (r *Recorder) Last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.query
}

// Plan is the outline of a query plan.
type Plan struct {
	// Nodes are the node types from the top down, following first children:
	// ["Limit", "Index Scan"].
	Nodes []string
	// Index and IndexCond are those of the first node that uses an index.
	Index, IndexCond string
	// Text is EXPLAIN's own text, for failure messages and logs.
	Text string
}

// Explain returns the plan PostgreSQL chooses for query.
func Explain(t testing.TB, db bun.IDB, query string) Plan {
	t.Helper()
	ctx := context.Background()
	var raw string
	require.NoError(t, db.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+query).Scan(&raw))
	var doc []struct {
		Plan json.RawMessage `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &doc))
	var p Plan
	for node := doc[0].Plan; node != nil; {
		var n struct {
			NodeType  string            `json:"Node Type"`
			IndexName string            `json:"Index Name"`
			IndexCond string            `json:"Index Cond"`
			Plans     []json.RawMessage `json:"Plans"`
		}
		require.NoError(t, json.Unmarshal(node, &n))
		p.Nodes = append(p.Nodes, n.NodeType)
		if n.IndexName != "" && p.Index == "" {
			p.Index, p.IndexCond = n.IndexName, n.IndexCond
		}
		node = nil
		if len(n.Plans) > 0 {
			node = n.Plans[0]
		}
	}
	rows, err := db.QueryContext(ctx, "EXPLAIN "+query)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		lines = append(lines, line)
	}
	require.NoError(t, rows.Err())
	p.Text = strings.Join(lines, "\n")
	return p
}
