package jsonstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkTree verifies ordering, sizes and the weight-balance invariant.
func checkTree(t *testing.T, n *node, lo, hi string) int {
	t.Helper()
	if n == nil {
		return 0
	}
	if lo != "" {
		require.Greater(t, n.key, lo)
	}
	if hi != "" {
		require.Less(t, n.key, hi)
	}
	l := checkTree(t, n.left, lo, n.key)
	r := checkTree(t, n.right, n.key, hi)
	require.Equal(t, l+r+1, n.size, "size of %q", n.key)
	if l+r > 1 {
		require.LessOrEqual(t, l, wbDelta*r, "left heavy at %q", n.key)
		require.LessOrEqual(t, r, wbDelta*l, "right heavy at %q", n.key)
	}
	return n.size
}

func TestTreeAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tr tree
	model := map[string]*doc{}
	var versions []tree
	var models []map[string]*doc
	for i := range 20000 {
		k := fmt.Sprintf("k%04d", rng.IntN(3000))
		if rng.IntN(3) == 0 {
			tr = tr.Delete(k)
			delete(model, k)
		} else {
			d := &doc{id: k}
			tr = tr.Set(k, d)
			model[k] = d
		}
		if i%2000 == 0 {
			versions = append(versions, tr)
			models = append(models, cloneModel(model))
		}
	}
	checkTree(t, tr.root, "", "")
	require.Equal(t, len(model), tr.Len())

	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var walked []string
	tr.Each(func(k string, d *doc) bool {
		require.Same(t, model[k], d)
		walked = append(walked, k)
		return true
	})
	require.Equal(t, keys, walked)

	for _, probe := range []string{"", "k", "k0000", "k1500", "k15005", "k2999", "k3", "z"} {
		want, _ := slices.BinarySearch(keys, probe)
		require.Equal(t, want, tr.Rank(probe), "rank of %q", probe)
		for _, inclusive := range []bool{true, false} {
			i := want
			if !inclusive && i < len(keys) && keys[i] == probe {
				i++
			}
			n := tr.Seek(probe, inclusive).Next()
			if i == len(keys) {
				require.Nil(t, n)
			} else {
				require.Equal(t, keys[i], n.key, "seek %q inclusive=%v", probe, inclusive)
			}
		}
	}
	for _, prefix := range []string{"", "k", "k1", "k12", "k123", "k1234", "x"} {
		want := 0
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want++
			}
		}
		require.Equal(t, want, tr.CountPrefix(prefix), "count prefix %q", prefix)
	}

	// Old versions are untouched by later updates.
	for i, v := range versions {
		checkTree(t, v.root, "", "")
		require.Equal(t, len(models[i]), v.Len())
		for k, d := range models[i] {
			got, ok := v.Get(k)
			require.True(t, ok)
			require.Same(t, d, got)
		}
	}
}

func cloneModel(m map[string]*doc) map[string]*doc {
	c := make(map[string]*doc, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestTreeSequentialStaysBalanced(t *testing.T) {
	var tr tree
	for i := range 5000 {
		tr = tr.Set(fmt.Sprintf("%08d", i), nil)
	}
	checkTree(t, tr.root, "", "")
	for i := 0; i < 5000; i += 2 {
		tr = tr.Delete(fmt.Sprintf("%08d", i))
	}
	checkTree(t, tr.root, "", "")
	require.Equal(t, 2500, tr.Len())
	require.Equal(t, tr, tr.Delete("absent"))
}

func TestBuildSorted(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 10, 1000} {
		keys := make([]string, n)
		docs := make([]*doc, n)
		for i := range n {
			keys[i] = fmt.Sprintf("%06d", i)
			docs[i] = &doc{id: keys[i]}
		}
		tr := buildSorted(keys, docs)
		checkTree(t, tr.root, "", "")
		require.Equal(t, n, tr.Len())
		tr = tr.Set("zzz", nil).Delete("000000")
		checkTree(t, tr.root, "", "")
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"a", "b", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"ab\x00", "ab\x01", true},
	}
	for _, tt := range tests {
		got, ok := prefixEnd(tt.in)
		require.Equal(t, tt.ok, ok, "%q", tt.in)
		require.Equal(t, tt.want, got, "%q", tt.in)
	}
}
