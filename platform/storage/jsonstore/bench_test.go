package jsonstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/platform/storage/page"
	"github.com/stretchr/testify/require"
)

const benchUsers = 100_000

// benchStore opens a store holding benchUsers users spread over 100 orgs.
func benchStore(b *testing.B) (*Store, *Collection[user]) {
	b.Helper()
	s, c := openUsers(b, b.TempDir(), Options{})
	const batch = 10_000
	for start := 0; start < benchUsers; start += batch {
		require.NoError(b, s.Update(context.Background(), func(tx *Tx) error {
			for i := start; i < start+batch; i++ {
				u := mkUser(fmt.Sprintf("user-%07d", i), time.Duration(i)*time.Millisecond)
				u.Org = fmt.Sprintf("org-%03d", i%100)
				u.Tags = []string{"admin", "ops"}
				if err := c.Insert(tx, u); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return s, c
}

func BenchmarkGet(b *testing.B) {
	s, c := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("user-%07d", (i*7919)%benchUsers)
		i++
		err := s.View(ctx, func(tx *Tx) error {
			_, err := c.Get(tx, id)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s, c := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("user-%07d", (seq.Add(1)*7919)%benchUsers)
			err := s.View(ctx, func(tx *Tx) error {
				_, err := c.Get(tx, id)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkList20(b *testing.B) {
	s, c := benchStore(b)
	ctx := context.Background()
	for _, bc := range []struct{ name, index, key string }{
		{"collection", "", ""},
		{"by_index", "org", "org-042"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// Start each page at a cursor in the middle of the list.
			var mid page.Cursor
			require.NoError(b, s.View(ctx, func(tx *Tx) error {
				res, err := c.List(tx, bc.index, bc.key, page.Request{Limit: 100})
				mid = res.Next
				return err
			}))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				err := s.View(ctx, func(tx *Tx) error {
					res, err := c.List(tx, bc.index, bc.key, page.Request{Limit: 20, After: mid})
					if err == nil && len(res.Items) != 20 {
						err = fmt.Errorf("got %d items", len(res.Items))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInsert(b *testing.B) {
	s, c := openUsers(b, b.TempDir(), Options{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := mkUser(fmt.Sprintf("user-%07d", i), time.Duration(i))
		i++
		if err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, u) }); err != nil {
			b.Fatal(err)
		}
	}
	reportSyncs(b, s)
}

// BenchmarkInsertParallel8 has 8 writers committing one insert per Update;
// commits/fsync shows how many commits each fsync carries (group commit).
func BenchmarkInsertParallel8(b *testing.B) {
	s, c := openUsers(b, b.TempDir(), Options{})
	ctx := context.Background()
	b.ReportAllocs()
	var next atomic.Int64
	n := int64(b.N)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				u := mkUser(fmt.Sprintf("user-%07d", i), time.Duration(i))
				if err := s.Update(ctx, func(tx *Tx) error { return c.Insert(tx, u) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportSyncs(b, s)
}

func reportSyncs(b *testing.B, s *Store) {
	st := s.Stats()
	if st.Syncs > 0 {
		b.ReportMetric(float64(st.Commits)/float64(st.Syncs), "commits/fsync")
	}
}
