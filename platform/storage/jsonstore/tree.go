package jsonstore

import "strings"

// tree is an immutable ordered map from string keys to documents: a
// weight-balanced binary tree (Adams; the balance parameters delta=3, ratio=2
// of Haskell's Data.Map) with path copying. Every update returns a new tree and
// shares all untouched nodes with the old one, so a snapshot of the whole store
// is one pointer and readers never lock. Subtree sizes give ranks, so counting
// the entries under a prefix costs O(log n).
//
// The zero tree is empty and ready to use.
type tree struct {
	root *node
}

type node struct {
	key   string
	d     *doc
	size  int
	left  *node
	right *node
}

const (
	wbDelta = 3
	wbRatio = 2
)

func size(n *node) int {
	if n == nil {
		return 0
	}
	return n.size
}

func mk(key string, d *doc, l, r *node) *node {
	return &node{key: key, d: d, size: size(l) + size(r) + 1, left: l, right: r}
}

// balance rebuilds a node whose subtrees differ from a balanced node's by at
// most one insertion or deletion.
func balance(key string, d *doc, l, r *node) *node {
	sl, sr := size(l), size(r)
	switch {
	case sl+sr <= 1:
		return mk(key, d, l, r)
	case sr > wbDelta*sl:
		if size(r.left) < wbRatio*size(r.right) {
			return mk(r.key, r.d, mk(key, d, l, r.left), r.right)
		}
		rl := r.left
		return mk(rl.key, rl.d, mk(key, d, l, rl.left), mk(r.key, r.d, rl.right, r.right))
	case sl > wbDelta*sr:
		if size(l.right) < wbRatio*size(l.left) {
			return mk(l.key, l.d, l.left, mk(key, d, l.right, r))
		}
		lr := l.right
		return mk(lr.key, lr.d, mk(l.key, l.d, l.left, lr.left), mk(key, d, lr.right, r))
	}
	return mk(key, d, l, r)
}

// Len returns the number of entries.
func (t tree) Len() int { return size(t.root) }

// Get returns the document stored under key.
func (t tree) Get(key string) (*doc, bool) {
	n := t.root
	for n != nil {
		switch c := strings.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.d, true
		}
	}
	return nil, false
}

// Set returns a tree with key mapped to d, replacing any previous value.
func (t tree) Set(key string, d *doc) tree { return tree{root: nodeInsert(t.root, key, d)} }

func nodeInsert(n *node, key string, d *doc) *node {
	if n == nil {
		return &node{key: key, d: d, size: 1}
	}
	switch c := strings.Compare(key, n.key); {
	case c < 0:
		return balance(n.key, n.d, nodeInsert(n.left, key, d), n.right)
	case c > 0:
		return balance(n.key, n.d, n.left, nodeInsert(n.right, key, d))
	default:
		return &node{key: key, d: d, size: n.size, left: n.left, right: n.right}
	}
}

// Delete returns a tree without key; deleting an absent key returns t.
func (t tree) Delete(key string) tree {
	if _, ok := t.Get(key); !ok {
		return t
	}
	return tree{root: nodeRemove(t.root, key)}
}

func nodeRemove(n *node, key string) *node {
	switch c := strings.Compare(key, n.key); {
	case c < 0:
		return balance(n.key, n.d, nodeRemove(n.left, key), n.right)
	case c > 0:
		return balance(n.key, n.d, n.left, nodeRemove(n.right, key))
	default:
		return glue(n.left, n.right)
	}
}

// glue joins two balanced subtrees whose keys are all ordered l < r and whose
// sizes were balanced against each other.
func glue(l, r *node) *node {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.size > r.size:
		m, rest := popMax(l)
		return balance(m.key, m.d, rest, r)
	default:
		m, rest := popMin(r)
		return balance(m.key, m.d, l, rest)
	}
}

func popMin(n *node) (minNode, rest *node) {
	if n.left == nil {
		return n, n.right
	}
	m, l := popMin(n.left)
	return m, balance(n.key, n.d, l, n.right)
}

func popMax(n *node) (maxNode, rest *node) {
	if n.right == nil {
		return n, n.left
	}
	m, r := popMax(n.right)
	return m, balance(n.key, n.d, n.left, r)
}

// Rank returns the number of keys strictly less than key.
func (t tree) Rank(key string) int {
	r := 0
	n := t.root
	for n != nil {
		if key <= n.key {
			n = n.left
		} else {
			r += size(n.left) + 1
			n = n.right
		}
	}
	return r
}

// CountPrefix returns the number of keys that start with prefix.
func (t tree) CountPrefix(prefix string) int {
	if prefix == "" {
		return t.Len()
	}
	lo := t.Rank(prefix)
	end, ok := prefixEnd(prefix)
	if !ok {
		return t.Len() - lo
	}
	return t.Rank(end) - lo
}

// prefixEnd returns the smallest string greater than every string with the
// given prefix, or false when there is none (the prefix is all 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// cursorIter walks a tree in key order. It holds the path to the next entry, so a
// seek costs O(log n) and each step amortised O(1).
type cursorIter struct {
	stack []*node
}

// Seek returns an iterator at the first key > from (or >= from when inclusive).
func (t tree) Seek(from string, inclusive bool) *cursorIter {
	it := &cursorIter{stack: make([]*node, 0, 32)}
	n := t.root
	for n != nil {
		if n.key > from || (inclusive && n.key == from) {
			it.stack = append(it.stack, n)
			n = n.left
		} else {
			n = n.right
		}
	}
	return it
}

// Next returns the next entry, or nil at the end.
func (it *cursorIter) Next() *node {
	if len(it.stack) == 0 {
		return nil
	}
	n := it.stack[len(it.stack)-1]
	it.stack = it.stack[:len(it.stack)-1]
	for c := n.right; c != nil; c = c.left {
		it.stack = append(it.stack, c)
	}
	return n
}

// Each calls fn for every entry in key order until fn returns false.
func (t tree) Each(fn func(key string, d *doc) bool) {
	it := t.Seek("", true)
	for n := it.Next(); n != nil; n = it.Next() {
		if !fn(n.key, n.d) {
			return
		}
	}
}

// buildSorted makes a perfectly balanced tree from entries already sorted by
// key with no duplicates, in O(n).
func buildSorted(keys []string, docs []*doc) tree {
	var build func(lo, hi int) *node
	build = func(lo, hi int) *node {
		if lo >= hi {
			return nil
		}
		mid := lo + (hi-lo)/2
		return mk(keys[mid], docs[mid], build(lo, mid), build(mid+1, hi))
	}
	return tree{root: build(0, len(keys))}
}
