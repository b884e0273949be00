package jsonstore

import (
	"errors"
	"fmt"
	"maps"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// ErrTxDone is returned when a Tx is used after its View or Update returned.
var ErrTxDone = errors.New("transaction already finished")

// ErrReadOnly is returned when a write is attempted in a View transaction.
var ErrReadOnly = errors.New("write in a read-only transaction")

// state is one immutable version of the whole store. Writers derive a new
// state from the latest one; readers hold whichever version they started on.
type state struct {
	colls map[string]*collState
}

// collState is one collection in one version of the store.
type collState struct {
	meta    *collMeta // nil for a collection found on disk but not registered
	docs    tree      // id → document
	order   tree      // order key → document
	indexes []tree    // parallel to meta.indexes: index key → document
}

// collMeta is the untyped description of a registered collection.
type collMeta struct {
	name    string
	ordered bool
	indexes []indexMeta
	byName  map[string]int
	// onDelete runs for each deleted document, or is nil.
	onDelete func(tx *Tx, d *doc) error
}

type indexMeta struct {
	name       string
	unique     bool
	what       string // "<collection>.<index>", the name a conflict carries
	references string // parent collection deleted with cascade, or ""
}

// childRef is an index of a child collection that references a parent.
type childRef struct {
	meta  *collMeta
	index int
}

// doc is one stored document: its JSON and the keys it occupies in the
// collection's ordered structures (unset for unregistered collections).
type doc struct {
	id   string
	raw  []byte
	ord  string   // order tree key: time and id
	keys []string // per index: prefix(key)+ord, "" when not indexed
	plen []int    // per index: length of the prefix(key) part of keys[i]
}

// op is one write of a transaction, as logged.
type op struct {
	coll string
	id   string
	raw  []byte // nil means delete
}

// Tx is a transaction: a consistent view of the store and, inside Update, the
// writes made so far. A Tx is valid only inside the function it was passed to
// and must not be used from several goroutines at once.
type Tx struct {
	s     *Store
	write bool
	done  bool
	base  *state
	colls map[string]*collState // copy of base.colls once a write happened
	owned map[string]bool       // collections copied by this tx
	ops   []op
}

func (tx *Tx) check(s *Store) error {
	if tx == nil {
		return errors.New("nil transaction")
	}
	if tx.done {
		return ErrTxDone
	}
	if tx.s != s {
		return errors.New("transaction belongs to another store")
	}
	return nil
}

// coll returns the collection as this transaction sees it, or nil.
func (tx *Tx) coll(name string) *collState {
	if tx.colls != nil {
		return tx.colls[name]
	}
	return tx.base.colls[name]
}

// writable returns a copy of the collection owned by this transaction.
func (tx *Tx) writable(name string) *collState {
	if tx.colls == nil {
		tx.colls = maps.Clone(tx.base.colls)
		if tx.colls == nil {
			tx.colls = map[string]*collState{}
		}
		tx.owned = map[string]bool{}
	}
	cs := tx.colls[name]
	if tx.owned[name] {
		return cs
	}
	c := &collState{}
	if cs != nil {
		*c = *cs
		c.indexes = append([]tree(nil), cs.indexes...)
	}
	tx.colls[name] = c
	tx.owned[name] = true
	return c
}

// result is the state this transaction leaves behind.
func (tx *Tx) result() *state {
	if tx.colls == nil {
		return tx.base
	}
	return &state{colls: tx.colls}
}

// put stores d in the collection described by m. With insertOnly an existing
// id is a conflict. Nothing changes when an error is returned.
func (tx *Tx) put(m *collMeta, d *doc, insertOnly bool) error {
	if !tx.write {
		return ErrReadOnly
	}
	cs := tx.coll(m.name)
	if cs == nil || cs.meta != m {
		return errUnregistered(m.name)
	}
	old, exists := cs.docs.Get(d.id)
	if exists && insertOnly {
		return derrors.Conflict(m.name+".id", nil)
	}
	for i, ix := range m.indexes {
		if !ix.unique || d.keys[i] == "" {
			continue
		}
		prefix := d.keys[i][:d.plen[i]]
		if n := cs.indexes[i].Seek(prefix, true).Next(); n != nil && n.d.id != d.id && hasPrefix(n.key, prefix) {
			return derrors.Conflict(ix.what, nil)
		}
	}
	for i, ix := range m.indexes {
		if ix.references == "" || d.keys[i] == "" {
			continue
		}
		prefix := d.keys[i][:d.plen[i]]
		if exists && old.keys[i] != "" && old.keys[i][:old.plen[i]] == prefix {
			continue // unchanged: a foreign key is checked only when it changes
		}
		parent, _ := decodeIndexKey(prefix)
		if ix.references == m.name && parent == d.id {
			continue // a document may name itself
		}
		if !tx.exists(ix.references, parent) {
			return derrors.MissingParent(ix.what, fmt.Errorf("no %s %q", ix.references, parent))
		}
	}

	cs = tx.writable(m.name)
	if exists && old.ord != d.ord {
		cs.order = cs.order.Delete(old.ord)
	}
	cs.order = cs.order.Set(d.ord, d)
	for i := range m.indexes {
		if exists && old.keys[i] != "" && old.keys[i] != d.keys[i] {
			cs.indexes[i] = cs.indexes[i].Delete(old.keys[i])
		}
		if d.keys[i] != "" {
			cs.indexes[i] = cs.indexes[i].Set(d.keys[i], d)
		}
	}
	cs.docs = cs.docs.Set(d.id, d)
	tx.ops = append(tx.ops, op{coll: m.name, id: d.id, raw: d.raw})
	return nil
}

// del removes a document; an absent id is derrors.ErrNotFound.
func (tx *Tx) del(m *collMeta, id string) error {
	if !tx.write {
		return ErrReadOnly
	}
	cs := tx.coll(m.name)
	if cs == nil || cs.meta != m {
		return errUnregistered(m.name)
	}
	old, ok := cs.docs.Get(id)
	if !ok {
		return derrors.ErrNotFound
	}
	cs = tx.writable(m.name)
	cs.docs = cs.docs.Delete(id)
	cs.order = cs.order.Delete(old.ord)
	for i := range m.indexes {
		if old.keys[i] != "" {
			cs.indexes[i] = cs.indexes[i].Delete(old.keys[i])
		}
	}
	tx.ops = append(tx.ops, op{coll: m.name, id: id})
	if m.onDelete != nil {
		if err := m.onDelete(tx, old); err != nil {
			return fmt.Errorf("on delete of %s %q: %w", m.name, id, err)
		}
	}
	return tx.cascade(m.name, id)
}

// exists reports whether the collection named coll holds a document with id,
// as this transaction sees it (registered or not).
func (tx *Tx) exists(coll, id string) bool {
	cs := tx.coll(coll)
	if cs == nil {
		return false
	}
	_, ok := cs.docs.Get(id)
	return ok
}

// cascade deletes the documents of child collections whose referencing index
// holds the deleted parent's id; all of it lands in the same log record.
func (tx *Tx) cascade(parent, id string) error {
	for _, ref := range tx.s.children[parent] {
		cs := tx.coll(ref.meta.name)
		if cs == nil || cs.meta != ref.meta {
			continue
		}
		prefix := indexPrefix(id)
		var ids []string
		it := cs.indexes[ref.index].Seek(prefix, true)
		for n := it.Next(); n != nil && hasPrefix(n.key, prefix); n = it.Next() {
			ids = append(ids, n.d.id)
		}
		for _, child := range ids {
			if err := tx.del(ref.meta, child); err != nil && !errors.Is(err, derrors.ErrNotFound) {
				return fmt.Errorf("cascade from %s %q: %w", parent, id, err)
			}
		}
	}
	return nil
}

func errUnregistered(name string) error {
	return fmt.Errorf("collection %q is not registered in this transaction's snapshot", name)
}

func hasPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && s[:len(prefix)] == prefix
}

// applyRaw applies a logged write to an unindexed collection while the store
// is being loaded, before any collection is registered.
func (st *state) applyRaw(o op) {
	cs := st.colls[o.coll]
	if cs == nil {
		cs = &collState{}
		st.colls[o.coll] = cs
	}
	if o.raw == nil {
		cs.docs = cs.docs.Delete(o.id)
		if cs.docs.Len() == 0 {
			delete(st.colls, o.coll)
		}
		return
	}
	cs.docs = cs.docs.Set(o.id, &doc{id: o.id, raw: o.raw})
}
