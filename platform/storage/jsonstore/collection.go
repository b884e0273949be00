package jsonstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// CollectionSpec describes a collection of T: its name, how to find a
// document's id and list position, and its secondary indexes.
type CollectionSpec[T any] struct {
	// Name of the collection, unique in the store.
	Name string
	// ID returns the document's id, a non-empty UTF-8 string.
	ID func(*T) string
	// Order returns the document's list position, normally (created_at, id).
	// Its ID must be empty or equal to the document's id. Nil orders by id.
	Order func(*T) page.Cursor
	// Indexes are the secondary indexes kept in memory.
	Indexes []Index[T]
	// OnDelete, when set, runs inside the deleting transaction for every
	// document removed, by Delete or by a cascade from a parent, as an
	// AFTER DELETE trigger does; an error from it fails that Delete (and
	// the transaction, once fn returns it).
	OnDelete func(tx *Tx, v *T) error
}

// Index is a secondary index over a field of T. Within one key, entries are
// kept in the collection's Order, so listing by key pages like the whole
// collection does.
type Index[T any] struct {
	// Name identifies the index in Lookup, List and Count, and in conflicts
	// as "<collection>.<name>".
	Name string
	// Unique makes a second document with the same key a conflict.
	Unique bool
	// Key returns the document's key, already normalised by the caller (for
	// example a lower-cased email); ok=false leaves the document out of the
	// index, as for a null field.
	Key func(*T) (key string, ok bool)
	// References names a parent collection whose ids this index holds, as
	// a foreign key with ON DELETE CASCADE does. Insert and Put refuse a
	// document whose key names no document of the parent collection (Put
	// only when the key changes, as a foreign key is checked only then) with
	// derrors.MissingParent on "<collection>.<index>", the check and the
	// write being one step under the store's single writer. Deleting a
	// parent deletes its children in the same transaction; cascades follow
	// through grandchildren.
	References string
}

// Collection is a typed view of one collection of JSON documents. Values
// passed in are encoded at the call and values returned are decoded fresh,
// so neither side can change the other's copy.
type Collection[T any] struct {
	s    *Store
	spec CollectionSpec[T]
	meta *collMeta
}

// NewCollection registers a collection on an open store and builds its
// indexes from the documents already on disk. A stored document that fails
// to decode, or two that share a unique key, is an error naming the
// collection (and index).
func NewCollection[T any](s *Store, spec CollectionSpec[T]) (*Collection[T], error) {
	if !validName(spec.Name) {
		return nil, fmt.Errorf("new collection: invalid name %q", spec.Name)
	}
	if spec.ID == nil {
		return nil, fmt.Errorf("new collection %q: an id func is required", spec.Name)
	}
	m := &collMeta{name: spec.Name, ordered: spec.Order != nil, byName: map[string]int{}}
	for i, ix := range spec.Indexes {
		if ix.Name == "" || ix.Key == nil {
			return nil, fmt.Errorf("new collection %q: index %d needs a name and a key func", spec.Name, i)
		}
		if _, dup := m.byName[ix.Name]; dup {
			return nil, fmt.Errorf("new collection %q: index %q declared twice", spec.Name, ix.Name)
		}
		m.byName[ix.Name] = i
		m.indexes = append(m.indexes, indexMeta{name: ix.Name, unique: ix.Unique, what: spec.Name + "." + ix.Name,
			references: ix.References})
	}
	c := &Collection[T]{s: s, spec: spec, meta: m}
	if spec.OnDelete != nil {
		m.onDelete = func(tx *Tx, d *doc) error {
			v, err := c.decode(d)
			if err != nil {
				return err
			}
			return spec.OnDelete(tx, &v)
		}
	}
	if err := s.register(spec.Name, c.build); err != nil {
		return nil, fmt.Errorf("new collection %q: %w", spec.Name, err)
	}
	return c, nil
}

// Name returns the collection's name.
func (c *Collection[T]) Name() string { return c.meta.name }

// build indexes the documents of old, as loaded from disk.
func (c *Collection[T]) build(old *collState) (*collState, error) {
	n := old.docs.Len()
	ids := make([]string, 0, n)
	docs := make([]*doc, 0, n)
	var err error
	old.docs.Each(func(id string, d *doc) bool {
		var v T
		if err = json.Unmarshal(d.raw, &v); err != nil {
			err = fmt.Errorf("decode document %q: %w", id, err)
			return false
		}
		if got := c.spec.ID(&v); got != id {
			err = fmt.Errorf("document stored as %q has id %q", id, got)
			return false
		}
		var nd *doc
		if nd, err = c.index(&v, id, d.raw); err != nil {
			err = fmt.Errorf("document %q: %w", id, err)
			return false
		}
		ids = append(ids, id)
		docs = append(docs, nd)
		return true
	})
	if err != nil {
		return nil, err
	}

	cs := &collState{meta: c.meta, docs: buildSorted(ids, docs), indexes: make([]tree, len(c.meta.indexes))}
	type entry struct {
		key  string
		plen int
		d    *doc
	}
	sorted := func(es []entry) tree {
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		keys := make([]string, len(es))
		ds := make([]*doc, len(es))
		for i, e := range es {
			keys[i], ds[i] = e.key, e.d
		}
		return buildSorted(keys, ds)
	}
	es := make([]entry, 0, n)
	for _, d := range docs {
		es = append(es, entry{key: d.ord, d: d})
	}
	cs.order = sorted(es)
	for i, ix := range c.meta.indexes {
		es = es[:0]
		for _, d := range docs {
			if d.keys[i] != "" {
				es = append(es, entry{key: d.keys[i], plen: d.plen[i], d: d})
			}
		}
		cs.indexes[i] = sorted(es)
		if !ix.unique {
			continue
		}
		for j := 1; j < len(es); j++ {
			a, b := es[j-1], es[j]
			if a.key[:a.plen] == b.key[:b.plen] {
				key, _ := decodeIndexKey(a.key[:a.plen])
				return nil, fmt.Errorf("unique index %q: documents %q and %q share key %q: %w",
					ix.name, a.d.id, b.d.id, key, derrors.Conflict(ix.what, nil))
			}
		}
	}
	return cs, nil
}

// index computes where a document sits in the collection's trees.
func (c *Collection[T]) index(v *T, id string, raw []byte) (*doc, error) {
	d := &doc{id: id, raw: raw}
	var nanos int64
	if c.spec.Order != nil {
		cur := c.spec.Order(v)
		if cur.ID != "" && cur.ID != id {
			return nil, fmt.Errorf("order func returned id %q for document %q", cur.ID, id)
		}
		nanos = cur.CreatedAt.UnixNano()
	}
	d.ord = orderKey(nanos, id)
	if len(c.spec.Indexes) > 0 {
		d.keys = make([]string, len(c.spec.Indexes))
		d.plen = make([]int, len(c.spec.Indexes))
		for i, ix := range c.spec.Indexes {
			k, ok := ix.Key(v)
			if !ok {
				continue
			}
			p := indexPrefix(k)
			d.keys[i] = p + d.ord
			d.plen[i] = len(p)
		}
	}
	return d, nil
}

// encode marshals v and computes its keys.
func (c *Collection[T]) encode(v *T) (*doc, error) {
	if v == nil {
		return nil, errors.New("nil document")
	}
	id := c.spec.ID(v)
	if !validName(id) {
		return nil, fmt.Errorf("invalid document id %q", id)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode document %q: %w", id, err)
	}
	if bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("document %q encodes as null", id)
	}
	return c.index(v, id, raw)
}

// orderKey is the sort key of (time, id): the time in nanoseconds with the
// sign bit flipped, big endian, so byte order is numeric order; then the id.
func orderKey(nanos int64, id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(nanos)^(1<<63))
	return string(b[:]) + id
}

// indexPrefix encodes an index key as its length then its bytes: no encoded
// key is a prefix of another, so all entries of one key are contiguous.
func indexPrefix(key string) string {
	b := binary.AppendUvarint(make([]byte, 0, len(key)+binary.MaxVarintLen64), uint64(len(key)))
	return string(append(b, key...))
}

func decodeIndexKey(prefix string) (string, bool) {
	n, w := binary.Uvarint([]byte(prefix))
	if w <= 0 || uint64(len(prefix)-w) != n {
		return "", false
	}
	return prefix[w:], true
}

func (c *Collection[T]) decode(d *doc) (T, error) {
	var v T
	if err := json.Unmarshal(d.raw, &v); err != nil {
		return v, fmt.Errorf("decode document %q: %w", d.id, err)
	}
	return v, nil
}

// registered returns the collection as tx sees it, checking that it carries
// this registration's indexes.
func (c *Collection[T]) registered(tx *Tx) (*collState, error) {
	if err := tx.check(c.s); err != nil {
		return nil, err
	}
	cs := tx.coll(c.meta.name)
	if cs == nil || cs.meta != c.meta {
		return nil, errUnregistered(c.meta.name)
	}
	return cs, nil
}

// Get returns the document with id, or an error matching derrors.ErrNotFound.
func (c *Collection[T]) Get(tx *Tx, id string) (T, error) {
	var zero T
	if err := tx.check(c.s); err != nil {
		return zero, fmt.Errorf("%s.Get(%q): %w", c.meta.name, id, err)
	}
	if cs := tx.coll(c.meta.name); cs != nil {
		if d, ok := cs.docs.Get(id); ok {
			v, err := c.decode(d)
			if err != nil {
				return zero, fmt.Errorf("%s.Get(%q): %w", c.meta.name, id, err)
			}
			return v, nil
		}
	}
	return zero, fmt.Errorf("%s.Get(%q): %w", c.meta.name, id, derrors.ErrNotFound)
}

// Lookup returns the document whose key in the unique index is key, or an
// error matching derrors.ErrNotFound.
func (c *Collection[T]) Lookup(tx *Tx, index, key string) (T, error) {
	var zero T
	cs, err := c.registered(tx)
	if err != nil {
		return zero, fmt.Errorf("%s.Lookup(%q, %q): %w", c.meta.name, index, key, err)
	}
	i, ok := c.meta.byName[index]
	if !ok || !c.meta.indexes[i].unique {
		return zero, fmt.Errorf("%s.Lookup(%q, %q): no unique index %q", c.meta.name, index, key, index)
	}
	prefix := indexPrefix(key)
	n := cs.indexes[i].Seek(prefix, true).Next()
	if n == nil || !hasPrefix(n.key, prefix) {
		return zero, fmt.Errorf("%s.Lookup(%q, %q): %w", c.meta.name, index, key, derrors.ErrNotFound)
	}
	v, err := c.decode(n.d)
	if err != nil {
		return zero, fmt.Errorf("%s.Lookup(%q, %q): %w", c.meta.name, index, key, err)
	}
	return v, nil
}

// Insert adds a new document. An existing id is a conflict on
// "<collection>.id", a taken unique key a conflict on "<collection>.<index>"
// (both match derrors.ErrConflict); on error the transaction is unchanged.
func (c *Collection[T]) Insert(tx *Tx, v *T) error {
	return c.write(tx, v, true, "Insert")
}

// Put inserts or replaces a document, with the same unique checks as Insert.
func (c *Collection[T]) Put(tx *Tx, v *T) error {
	return c.write(tx, v, false, "Put")
}

func (c *Collection[T]) write(tx *Tx, v *T, insertOnly bool, opName string) error {
	var id string
	if v != nil {
		id = c.spec.ID(v)
	}
	if err := tx.check(c.s); err != nil {
		return fmt.Errorf("%s.%s(%q): %w", c.meta.name, opName, id, err)
	}
	d, err := c.encode(v)
	if err == nil {
		err = tx.put(c.meta, d, insertOnly)
	}
	if err != nil {
		return fmt.Errorf("%s.%s(%q): %w", c.meta.name, opName, id, err)
	}
	return nil
}

// Delete removes the document with id; an absent id matches derrors.ErrNotFound.
func (c *Collection[T]) Delete(tx *Tx, id string) error {
	err := tx.check(c.s)
	if err == nil {
		err = tx.del(c.meta, id)
	}
	if err != nil {
		return fmt.Errorf("%s.Delete(%q): %w", c.meta.name, id, err)
	}
	return nil
}

// span returns the tree and key prefix that List, All and Count walk.
func (c *Collection[T]) span(cs *collState, index, key string) (tree, string, error) {
	if index == "" {
		return cs.order, "", nil
	}
	i, ok := c.meta.byName[index]
	if !ok {
		return tree{}, "", fmt.Errorf("no index %q", index)
	}
	return cs.indexes[i], indexPrefix(key), nil
}

// List returns one page of the collection (index == "") or of the documents
// whose key in index is key, in Order: at most req.Limit items (clamped to
// page.DefaultLimit when unset and page.MaxLimit at most) strictly after
// req.After. Next is the last item's cursor when more items follow, zero
// otherwise. It costs O(log n + limit).
func (c *Collection[T]) List(tx *Tx, index, key string, req page.Request) (page.Result[T], error) {
	var res page.Result[T]
	fail := func(err error) (page.Result[T], error) {
		return page.Result[T]{}, fmt.Errorf("%s.List(%q, %q): %w", c.meta.name, index, key, err)
	}
	cs, err := c.registered(tx)
	if err != nil {
		return fail(err)
	}
	t, prefix, err := c.span(cs, index, key)
	if err != nil {
		return fail(err)
	}
	limit := req.Limit
	if limit <= 0 {
		limit = page.DefaultLimit
	}
	limit = min(limit, page.MaxLimit)

	var it *cursorIter
	if req.After.IsZero() {
		it = t.Seek(prefix, true)
	} else {
		var nanos int64
		if c.meta.ordered {
			nanos = req.After.CreatedAt.UnixNano()
		}
		it = t.Seek(prefix+orderKey(nanos, req.After.ID), false)
	}
	res.Items = make([]T, 0, min(limit, t.Len()))
	for n := it.Next(); n != nil && hasPrefix(n.key, prefix); n = it.Next() {
		if len(res.Items) == limit {
			res.Next = c.cursor(&res.Items[len(res.Items)-1])
			break
		}
		v, err := c.decode(n.d)
		if err != nil {
			return fail(err)
		}
		res.Items = append(res.Items, v)
	}
	return res, nil
}

func (c *Collection[T]) cursor(v *T) page.Cursor {
	cur := page.Cursor{ID: c.spec.ID(v)}
	if c.spec.Order != nil {
		cur.CreatedAt = c.spec.Order(v).CreatedAt
	}
	return cur
}

// All iterates over the collection (index == "") or the documents whose key
// in index is key, in Order. It walks the state as it was when All was
// called, so the loop body may Delete or Put documents of the same
// collection (a cascade) without disturbing the iteration. An error is
// yielded once, as the last pair.
func (c *Collection[T]) All(tx *Tx, index, key string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cs, err := c.registered(tx)
		if err != nil {
			yield(zero, fmt.Errorf("%s.All(%q, %q): %w", c.meta.name, index, key, err))
			return
		}
		t, prefix, err := c.span(cs, index, key)
		if err != nil {
			yield(zero, fmt.Errorf("%s.All(%q, %q): %w", c.meta.name, index, key, err))
			return
		}
		it := t.Seek(prefix, true)
		for n := it.Next(); n != nil && hasPrefix(n.key, prefix); n = it.Next() {
			if err := tx.check(c.s); err != nil {
				yield(zero, fmt.Errorf("%s.All(%q, %q): %w", c.meta.name, index, key, err))
				return
			}
			v, err := c.decode(n.d)
			if err != nil {
				yield(zero, fmt.Errorf("%s.All(%q, %q): %w", c.meta.name, index, key, err))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// Count returns the number of documents in the collection (index == "") or
// with key in index, in O(log n).
func (c *Collection[T]) Count(tx *Tx, index, key string) (int, error) {
	cs, err := c.registered(tx)
	if err != nil {
		return 0, fmt.Errorf("%s.Count(%q, %q): %w", c.meta.name, index, key, err)
	}
	t, prefix, err := c.span(cs, index, key)
	if err != nil {
		return 0, fmt.Errorf("%s.Count(%q, %q): %w", c.meta.name, index, key, err)
	}
	return t.CountPrefix(prefix), nil
}
