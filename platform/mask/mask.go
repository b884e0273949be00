// Package mask hides secret values in a stream of output: a Writer passes
// bytes through to another writer with every occurrence of a secret's value
// replaced by [secret:NAME], whatever the sizes and boundaries of the writes
// that bring them.
//
// Where occurrences overlap, every byte of each is hidden: the output is the
// same as that of this rule applied to the whole stream at once. Going
// through the positions in order, at a position not inside a masked stretch,
// the longest value starting there (if any) is replaced by its name and
// starts a stretch; inside a stretch, a value starting there that reaches
// past the stretch's end adds its name and extends it. So "abcdef" with
// A=abcd and B=cdef becomes "[secret:A][secret:B]", and a value that is a
// part of a longer one found at the same place is named only as the longer.
//
// The Writer holds back only the bytes at the end of what it was given that
// could still begin a value (at most the longest form's length minus one,
// a value's forms being itself and its escaped forms inside a JSON string),
// and finds values with an Aho-Corasick automaton, so its time is linear in
// the output whatever the values and the writer's input.
package mask

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// Secret is a value to hide and the name shown in its place.
type Secret struct {
	Name  string
	Value string
}

// Label is what replaces an occurrence of the secret named name.
func Label(name string) string { return "[secret:" + name + "]" }

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("mask: write after close")

// Writer masks secrets in what is written through it. It is not safe for
// concurrent use. Close writes what it held back; it does not close the
// writer underneath.
type Writer struct {
	w      io.Writer
	m      *matcher
	state  int32
	pend   []byte  // bytes received but not yet decided, from absolute position base
	best   []int32 // per pending byte: the longest value starting there, or -1
	base   int64   // absolute position of pend[0]
	cover  int64   // absolute end of the masked stretch
	out    []byte  // scratch for one Write's output
	closed bool
}

// Masker holds the automaton of a set of secrets, built once, for any
// number of Writers and strings. It is safe for concurrent use.
type Masker struct{ m *matcher }

// New builds the Masker of secrets. Secrets with an empty value are
// ignored; with none left, what it masks passes through as it is.
func New(secrets []Secret) *Masker { return &Masker{m: newMatcher(secrets)} }

// Writer returns a Writer that writes to w with the secrets masked.
func (k *Masker) Writer(w io.Writer) *Writer { return &Writer{w: w, m: k.m} }

// String returns s with the secrets masked.
func (k *Masker) String(s string) string {
	var b strings.Builder
	w := k.Writer(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

// NewWriter returns a Writer that writes to w with secrets masked: the
// Writer of New(secrets).
func NewWriter(w io.Writer, secrets []Secret) *Writer { return New(secrets).Writer(w) }

// Write takes p and writes on everything that can no longer be part of a
// secret's value, masked. It reports len(p) unless the writer underneath
// fails.
func (mw *Writer) Write(p []byte) (int, error) {
	if mw.closed {
		return 0, ErrClosed
	}
	if len(mw.m.patterns) == 0 {
		return mw.w.Write(p)
	}
	for _, b := range p {
		mw.state = mw.m.next(mw.state, b)
		mw.pend = append(mw.pend, b)
		mw.best = append(mw.best, -1)
		end := len(mw.pend)
		for o := mw.m.firstOut(mw.state); o >= 0; o = mw.m.nodes[o].dict {
			n := &mw.m.nodes[o]
			start := end - int(n.depth)
			// Values ending later that start at the same place are longer.
			mw.best[start] = n.out
		}
	}
	if err := mw.decide(len(mw.pend) - int(mw.m.nodes[mw.state].hold)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the bytes held back, masked as the end of the stream
// decides, and makes later writes fail.
func (mw *Writer) Close() error {
	if mw.closed {
		return nil
	}
	mw.closed = true
	return mw.decide(len(mw.pend))
}

// Held returns how many bytes the Writer holds back.
func (mw *Writer) Held() int { return len(mw.pend) }

// decide writes the first n pending bytes out, masked, and drops them.
func (mw *Writer) decide(n int) error {
	if n <= 0 {
		return nil
	}
	out := mw.out[:0]
	for i := range n {
		at := mw.base + int64(i)
		b := mw.best[i]
		var end int64
		if b >= 0 {
			end = at + int64(len(mw.m.patterns[b].value))
		}
		switch {
		case at < mw.cover: // inside a masked stretch
			if b >= 0 && end > mw.cover {
				out = append(out, mw.m.patterns[b].label...)
				mw.cover = end
			}
		case b >= 0:
			out = append(out, mw.m.patterns[b].label...)
			mw.cover = end
		default:
			out = append(out, mw.pend[i])
		}
	}
	mw.base += int64(n)
	mw.pend = append(mw.pend[:0], mw.pend[n:]...)
	mw.best = append(mw.best[:0], mw.best[n:]...)
	mw.out = out[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := mw.w.Write(out)
	return err
}

// pattern is one distinct value and the label of the first secret, by
// name, that has it.
type pattern struct {
	value string
	label string
}

// node is a state of the automaton: a prefix of one or more values.
type node struct {
	depth int32 // length of the prefix
	fail  int32 // the longest proper suffix that is also a node
	out   int32 // the value equal to this prefix, or -1
	dict  int32 // the nearest node down the fail chain with a value, or -1
	hold  int32 // length of the longest suffix (this or down the fail chain) that a value continues
	child int32 // first child, or -1
	next  int32 // next sibling, or -1
	b     byte  // the byte leading here from the parent
}

// matcher is an Aho-Corasick automaton over the values' bytes. Children are
// sibling lists (most nodes of a few long values have one child); the root
// has a full table.
type matcher struct {
	patterns []pattern
	nodes    []node
	root     [256]int32 // the root's child by byte, or 0 (the root itself)
}

func newMatcher(secrets []Secret) *matcher {
	sorted := slices.Clone(secrets)
	slices.SortStableFunc(sorted, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
	m := &matcher{nodes: []node{{out: -1, dict: -1, child: -1, next: -1}}}
	for _, s := range sorted {
		for _, v := range Forms(s.Value) {
			n := m.insert(v)
			if m.nodes[n].out < 0 { // the first name, by order, names a shared value
				m.nodes[n].out = int32(len(m.patterns))
				m.patterns = append(m.patterns, pattern{value: v, label: Label(s.Name)})
			}
		}
	}
	m.link()
	return m
}

// Forms are the ways value can appear in output: as it is, and as it reads
// inside a JSON string, where an agent that prints JSON (Codex's --json
// events) puts it with its quotes, backslashes and control characters
// escaped, and perhaps <, > and & as well (Go's encoder does). An empty
// value has none.
func Forms(value string) []string {
	if value == "" {
		return nil
	}
	forms := []string{value}
	for _, html := range []bool{false, true} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(value) != nil {
			continue
		}
		quoted := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		if f := string(quoted[1 : len(quoted)-1]); !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

// insert adds value's path to the trie and returns its last node.
func (m *matcher) insert(value string) int32 {
	cur := int32(0)
	for i := 0; i < len(value); i++ {
		c := m.childOf(cur, value[i])
		if c < 0 {
			c = int32(len(m.nodes))
			m.nodes = append(m.nodes, node{depth: m.nodes[cur].depth + 1, out: -1, dict: -1,
				child: -1, next: m.nodes[cur].child, b: value[i]})
			m.nodes[cur].child = c
			if cur == 0 {
				m.root[value[i]] = c
			}
		}
		cur = c
	}
	return cur
}

func (m *matcher) childOf(n int32, b byte) int32 {
	if n == 0 {
		if c := m.root[b]; c != 0 {
			return c
		}
		return -1
	}
	for c := m.nodes[n].child; c >= 0; c = m.nodes[c].next {
		if m.nodes[c].b == b {
			return c
		}
	}
	return -1
}

// link sets the fail, dict and hold of every node, breadth first.
func (m *matcher) link() {
	queue := []int32{0}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for v := m.nodes[u].child; v >= 0; v = m.nodes[v].next {
			queue = append(queue, v)
			f := int32(0)
			if u != 0 {
				f = m.next(m.nodes[u].fail, m.nodes[v].b)
			}
			n := &m.nodes[v]
			n.fail = f
			if m.nodes[f].out >= 0 {
				n.dict = f
			} else {
				n.dict = m.nodes[f].dict
			}
			if n.child >= 0 {
				n.hold = n.depth
			} else {
				n.hold = m.nodes[f].hold
			}
		}
	}
}

// next is the state after reading b in state s.
func (m *matcher) next(s int32, b byte) int32 {
	for s != 0 {
		if c := m.childOf(s, b); c >= 0 {
			return c
		}
		s = m.nodes[s].fail
	}
	return m.root[b]
}

// firstOut is the longest value ending in state s, or -1.
func (m *matcher) firstOut(s int32) int32 {
	if m.nodes[s].out >= 0 {
		return s
	}
	return m.nodes[s].dict
}
