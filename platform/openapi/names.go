package openapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// marshal is json.Marshal without HTML escaping, so descriptions and
// patterns read as written.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// qualifiedIdent matches a package-qualified identifier inside a generic
// type's name, such as "github.com/x/projects.Project".
var qualifiedIdent = regexp.MustCompile(`(?:[\w.~-]+/)*[\w.~-]+\.(\w+)`)

// invalidComponentChar is what OpenAPI forbids in component names.
var invalidComponentChar = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// camel joins the alphanumeric runs of s, each capitalised:
// "go-bun" becomes "GoBun", "[]*Project" becomes "Project".
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		r, size := utf8.DecodeRuneInString(part)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(part[size:])
	}
	return b.String()
}

// baseName is a type's name fit for a component: a generic instance such
// as "Page[github.com/x/projects.Project]" becomes "PageProject".
func baseName(name string) string {
	outer, args, generic := strings.Cut(name, "[")
	if !generic {
		return camel(name)
	}
	return camel(outer) + camel(qualifiedIdent.ReplaceAllString(args, "$1"))
}

// candidates lists a key's possible names, from the shortest to one that
// is unique for every distinct named type.
func candidates(k typeKey, suffix string) []string {
	t := k.t
	base := baseName(t.Name())
	out := []string{base + suffix}
	segs := strings.Split(t.PkgPath(), "/")
	prefix := ""
	for i := len(segs) - 1; i >= 0; i-- {
		prefix = camel(segs[i]) + prefix
		out = append(out, prefix+base+suffix)
	}
	full := invalidComponentChar.ReplaceAllString(t.PkgPath()+"."+t.Name(), "_")
	return append(out, full+suffix)
}

// nameComponents gives every key a component name, unique and not among
// reserved. A name depends only on the set of keys, not on the order in
// which operations were read: colliding keys take longer candidates until
// they differ.
func nameComponents(keys []typeKey, seq map[typeKey]int, reserved []string) map[typeKey]string {
	slices.SortFunc(keys, func(a, b typeKey) int {
		return cmp.Or(
			cmp.Compare(a.t.PkgPath(), b.t.PkgPath()),
			cmp.Compare(a.t.Name(), b.t.Name()),
			cmp.Compare(a.m, b.m),
			cmp.Compare(seq[a], seq[b]),
		)
	})
	modes := map[string]map[mode]bool{}
	typeID := func(k typeKey) string { return k.t.PkgPath() + "." + k.t.Name() }
	for _, k := range keys {
		if modes[typeID(k)] == nil {
			modes[typeID(k)] = map[mode]bool{}
		}
		modes[typeID(k)][k.m] = true
	}
	cands := make([][]string, len(keys))
	level := make([]int, len(keys))
	for i, k := range keys {
		suffix := ""
		if k.m == requestMode && modes[typeID(k)][responseMode] {
			suffix = "Input"
		}
		cands[i] = candidates(k, suffix)
	}
	isReserved := map[string]bool{}
	for _, r := range reserved {
		isReserved[r] = true
	}
	for {
		byName := map[string][]int{}
		for i := range keys {
			name := cands[i][level[i]]
			byName[name] = append(byName[name], i)
		}
		changed := false
		for name, idx := range byName {
			if len(idx) < 2 && !isReserved[name] {
				continue
			}
			for _, i := range idx {
				if level[i] < len(cands[i])-1 {
					level[i]++
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	names := make(map[typeKey]string, len(keys))
	used := map[string]bool{}
	for _, r := range reserved {
		used[r] = true
	}
	// Keys still colliding have exhausted their candidates (distinct types
	// with one package path and name, as types local to functions are):
	// number them in sorted order.
	for i, k := range keys {
		name := cands[i][level[i]]
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s_%d", cands[i][level[i]], n)
		}
		used[name] = true
		names[k] = name
	}
	return names
}
