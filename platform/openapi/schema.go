package openapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses it) restricted to
// what Build writes. Values whose zero is meaningful (const, default, enum,
// examples) are kept as raw JSON so that 0, false and "" survive omitempty.
type schema struct {
	Ref                  string            `json:"$ref,omitempty"`
	Type                 any               `json:"type,omitempty"` // a string, or []string when nullable
	Format               string            `json:"format,omitempty"`
	ContentEncoding      string            `json:"contentEncoding,omitempty"`
	Description          string            `json:"description,omitempty"`
	Const                json.RawMessage   `json:"const,omitempty"`
	Enum                 []json.RawMessage `json:"enum,omitempty"`
	Default              json.RawMessage   `json:"default,omitempty"`
	Examples             []json.RawMessage `json:"examples,omitempty"`
	MinLength            *int              `json:"minLength,omitempty"`
	MaxLength            *int              `json:"maxLength,omitempty"`
	Pattern              string            `json:"pattern,omitempty"`
	Minimum              json.Number       `json:"minimum,omitempty"`
	Maximum              json.Number       `json:"maximum,omitempty"`
	MinItems             *int              `json:"minItems,omitempty"`
	MaxItems             *int              `json:"maxItems,omitempty"`
	Items                *schema           `json:"items,omitempty"`
	Properties           *properties       `json:"properties,omitempty"`
	Required             []string          `json:"required,omitempty"`
	AdditionalProperties any               `json:"additionalProperties,omitempty"` // false or *schema
	AnyOf                []*schema         `json:"anyOf,omitempty"`
	OneOf                []*schema         `json:"oneOf,omitempty"`
	Discriminator        *discriminator    `json:"discriminator,omitempty"`

	// ref names the component this schema points to until Build has chosen
	// the components' names and filled Ref.
	ref *typeKey
}

// properties are an object's properties in the order of the struct fields.
type properties struct {
	names   []string
	schemas map[string]*schema
}

func (p *properties) add(name string, s *schema) {
	if p.schemas == nil {
		p.schemas = map[string]*schema{}
	}
	p.names = append(p.names, name)
	p.schemas[name] = s
}

// MarshalJSON writes the properties as an object, in field order.
func (p *properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range p.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		v, err := marshal(p.schemas[name])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// typeString returns the schema's single type, or "" when it has none or
// several.
func (s *schema) typeString() string {
	t, _ := s.Type.(string)
	return t
}

// mode says which side of the wire a type is read for: requests reject
// unknown fields and take pointers as optional, responses may hold null.
type mode int

const (
	responseMode mode = iota
	requestMode
)

// typeKey identifies a component schema: a named struct type read for one mode.
type typeKey struct {
	t reflect.Type
	m mode
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// reflector turns Go types into schemas, collecting the named structs as
// components.
type reflector struct {
	defs map[typeKey]*schema
	seq  map[typeKey]int // order of first use, to break ties in naming
	refs []*schema       // every $ref schema handed out, filled once named
}

func newReflector() *reflector {
	return &reflector{defs: map[typeKey]*schema{}, seq: map[typeKey]int{}}
}

// schemaFor returns a fresh schema for t; callers may decorate it.
func (r *reflector) schemaFor(t reflect.Type, m mode) (*schema, error) {
	switch {
	case t == timeType:
		return &schema{Type: "string", Format: "date-time"}, nil
	case t == rawMessageType:
		return &schema{}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType)):
		return &schema{}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		return &schema{Type: "string"}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner, err := r.schemaFor(t.Elem(), m)
		if err != nil {
			return nil, err
		}
		if m == responseMode {
			return nullable(inner), nil
		}
		return inner, nil
	case reflect.Bool:
		return &schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int64:
		return &schema{Type: "integer", Format: "int64"}, nil
	case reflect.Int32:
		return &schema{Type: "integer", Format: "int32"}, nil
	case reflect.Int8, reflect.Int16:
		return &schema{Type: "integer"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &schema{Type: "integer", Minimum: "0"}, nil
	case reflect.Float32:
		return &schema{Type: "number", Format: "float"}, nil
	case reflect.Float64:
		return &schema{Type: "number", Format: "double"}, nil
	case reflect.String:
		return &schema{Type: "string"}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(jsonMarshalerType) &&
			!reflect.PointerTo(t.Elem()).Implements(textMarshalerType) {
			return &schema{Type: "string", ContentEncoding: "base64"}, nil
		}
		items, err := r.schemaFor(t.Elem(), m)
		if err != nil {
			return nil, err
		}
		return &schema{Type: "array", Items: items}, nil
	case reflect.Array:
		items, err := r.schemaFor(t.Elem(), m)
		if err != nil {
			return nil, err
		}
		n := t.Len()
		return &schema{Type: "array", Items: items, MinItems: &n, MaxItems: &n}, nil
	case reflect.Map:
		if !mapKeyOK(t.Key()) {
			return nil, fmt.Errorf("map key type %s cannot be a JSON object key", t.Key())
		}
		values, err := r.schemaFor(t.Elem(), m)
		if err != nil {
			return nil, err
		}
		return &schema{Type: "object", AdditionalProperties: values}, nil
	case reflect.Interface:
		return &schema{}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return r.structSchema(t, m)
		}
		k := typeKey{t: t, m: m}
		if _, ok := r.defs[k]; !ok {
			r.seq[k] = len(r.seq)
			r.defs[k] = nil // in progress: recursive types stop here
			def, err := r.structSchema(t, m)
			if err != nil {
				delete(r.defs, k)
				return nil, fmt.Errorf("type %s: %w", t, err)
			}
			r.defs[k] = def
		}
		ref := &schema{ref: &k}
		r.refs = append(r.refs, ref)
		return ref, nil
	default:
		return nil, fmt.Errorf("type %s of kind %s has no JSON form", t, t.Kind())
	}
}

func mapKeyOK(k reflect.Type) bool {
	if k.Kind() == reflect.String {
		return true
	}
	if k.Implements(textMarshalerType) {
		return true
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// nullable lets s also hold null.
func nullable(s *schema) *schema {
	switch {
	case s.Ref != "" || s.ref != nil:
		desc := s.Description
		s.Description = ""
		return &schema{AnyOf: []*schema{s, {Type: "null"}}, Description: desc}
	case s.AnyOf != nil || s.Type == nil:
		// Already nullable, or any value (null included).
		return s
	}
	if t := s.typeString(); t != "" {
		s.Type = []string{t, "null"}
		if len(s.Enum) > 0 {
			s.Enum = append(s.Enum, json.RawMessage("null"))
		}
	}
	return s
}

// structSchema reads a struct type as an object schema.
func (r *reflector) structSchema(t reflect.Type, m mode) (*schema, error) {
	fields := jsonFields(t)
	s := &schema{Type: "object", Properties: &properties{}}
	for _, f := range fields {
		base, ptr := f.sf.Type, false
		for base.Kind() == reflect.Pointer {
			base, ptr = base.Elem(), true
		}
		fs, err := r.schemaFor(base, m)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.sf.Name, err)
		}
		if f.asString {
			switch base.Kind() {
			case reflect.Bool, reflect.String,
				reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
				reflect.Float32, reflect.Float64:
				fs = &schema{Type: "string"}
			}
		}
		if err := applyTags(fs, f.sf.Tag); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.sf.Name, err)
		}
		if ptr && m == responseMode {
			fs = nullable(fs)
		}
		s.Properties.add(f.name, fs)
		if !ptr && !f.omitEmpty && !f.omitZero && !f.viaPointer {
			s.Required = append(s.Required, f.name)
		}
	}
	if m == requestMode {
		s.AdditionalProperties = false
	}
	return s, nil
}

// jsonField is one field as encoding/json sees it.
type jsonField struct {
	name      string
	tagged    bool
	index     []int
	sf        reflect.StructField
	omitEmpty bool
	omitZero  bool
	asString  bool
	// viaPointer is set for fields promoted from an embedded pointer,
	// which encoding/json leaves out when the pointer is nil.
	viaPointer bool
}

// jsonFields lists the fields encoding/json would write for t, embedded
// structs flattened, in field order.
func jsonFields(t reflect.Type) []jsonField {
	type level struct {
		t          reflect.Type
		index      []int
		viaPointer bool
	}
	var all []jsonField
	visited := map[reflect.Type]bool{}
	next := []level{{t: t}}
	for len(next) > 0 {
		current := next
		next = nil
		for _, l := range current {
			if visited[l.t] {
				continue
			}
			visited[l.t] = true
			for i := range l.t.NumField() {
				sf := l.t.Field(i)
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clone(l.index), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, level{t: ft, index: index, viaPointer: l.viaPointer || sf.Type.Kind() == reflect.Pointer})
					continue
				}
				f := jsonField{name: name, tagged: name != "", index: index, sf: sf, viaPointer: l.viaPointer}
				if f.name == "" {
					f.name = sf.Name
				}
				for o := range strings.SplitSeq(opts, ",") {
					switch o {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
					case "string":
						f.asString = true
					}
				}
				all = append(all, f)
			}
		}
	}
	// encoding/json's dominance rule: for each name, the shallowest field
	// wins; at equal depth a single tagged field wins; otherwise none does.
	byName := map[string][]jsonField{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []jsonField
	for _, fs := range byName {
		minDepth := len(fs[0].index)
		for _, f := range fs {
			minDepth = min(minDepth, len(f.index))
		}
		var shallow, tagged []jsonField
		for _, f := range fs {
			if len(f.index) == minDepth {
				shallow = append(shallow, f)
				if f.tagged {
					tagged = append(tagged, f)
				}
			}
		}
		switch {
		case len(shallow) == 1:
			out = append(out, shallow[0])
		case len(tagged) == 1:
			out = append(out, tagged[0])
		}
	}
	slices.SortFunc(out, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return out
}

// applyTags adds the constraint tags of a field to its schema s.
func applyTags(s *schema, tag reflect.StructTag) error {
	if doc, ok := tag.Lookup("doc"); ok {
		s.Description = doc
	}
	// Element constraints of a slice go on its items.
	target := s
	if s.typeString() == "array" && s.Items != nil {
		target = s.Items
	}
	isRef := target.ref != nil || target.Ref != ""
	tt := target.typeString()
	numeric := tt == "integer" || tt == "number"

	for _, name := range []string{"minLength", "maxLength"} {
		v, ok := tag.Lookup(name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return fmt.Errorf("tag %s:%q is not a non-negative integer", name, v)
		}
		switch {
		case s.typeString() == "array":
			if name == "minLength" {
				s.MinItems = &n
			} else {
				s.MaxItems = &n
			}
		case s.typeString() == "string":
			if name == "minLength" {
				s.MinLength = &n
			} else {
				s.MaxLength = &n
			}
		default:
			return fmt.Errorf("tag %s applies to strings and slices, not %s", name, describeType(s))
		}
	}
	for _, name := range []string{"minimum", "maximum"} {
		v, ok := tag.Lookup(name)
		if !ok {
			continue
		}
		if !numeric {
			return fmt.Errorf("tag %s applies to numbers, not %s", name, describeType(target))
		}
		v = strings.TrimSpace(v)
		if _, err := strconv.ParseFloat(v, 64); err != nil || !json.Valid([]byte(v)) {
			return fmt.Errorf("tag %s:%q is not a number", name, v)
		}
		if name == "minimum" {
			target.Minimum = json.Number(v)
		} else {
			target.Maximum = json.Number(v)
		}
	}
	if v, ok := tag.Lookup("pattern"); ok {
		if tt != "string" {
			return fmt.Errorf("tag pattern applies to strings, not %s", describeType(target))
		}
		target.Pattern = v
	}
	if v, ok := tag.Lookup("format"); ok {
		if tt != "string" {
			return fmt.Errorf("tag format applies to strings, not %s", describeType(target))
		}
		target.Format = strings.TrimSpace(v)
	}
	if v, ok := tag.Lookup("enum"); ok {
		if isRef || (tt != "string" && !numeric && tt != "boolean") {
			return fmt.Errorf("tag enum applies to strings, numbers and booleans, not %s", describeType(target))
		}
		target.Enum = nil
		for item := range strings.SplitSeq(v, ",") {
			raw, err := scalarJSON(strings.TrimSpace(item), tt)
			if err != nil {
				return fmt.Errorf("tag enum:%q: %w", v, err)
			}
			target.Enum = append(target.Enum, raw)
		}
	}
	for _, name := range []string{"default", "example"} {
		v, ok := tag.Lookup(name)
		if !ok {
			continue
		}
		raw, err := valueJSON(v, s)
		if err != nil {
			return fmt.Errorf("tag %s:%q: %w", name, v, err)
		}
		if name == "default" {
			s.Default = raw
		} else {
			s.Examples = []json.RawMessage{raw}
		}
	}
	return nil
}

func describeType(s *schema) string {
	switch {
	case s.ref != nil || s.Ref != "":
		return "an object"
	case s.Type == nil:
		return "any value"
	}
	return s.typeString()
}

// scalarJSON parses an enum item as a value of the JSON type typ.
func scalarJSON(v, typ string) (json.RawMessage, error) {
	switch typ {
	case "string":
		return json.Marshal(v)
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return json.RawMessage(v), nil
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil || !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return json.RawMessage(v), nil
	case "boolean":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", v)
		}
		return json.Marshal(b)
	}
	return nil, fmt.Errorf("no scalar type %s", typ)
}

// valueJSON reads a default or example: the text itself for a string
// schema, JSON of the schema's type otherwise.
func valueJSON(v string, s *schema) (json.RawMessage, error) {
	typ := s.typeString()
	if typ == "" {
		if ts, ok := s.Type.([]string); ok && len(ts) > 0 {
			typ = ts[0]
		}
	}
	if typ == "string" {
		return json.Marshal(v)
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, errors.New("not valid JSON")
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	var ok bool
	switch typ {
	case "integer":
		n, isNum := x.(json.Number)
		_, err := n.Int64()
		ok = isNum && err == nil
	case "number":
		_, ok = x.(json.Number)
	case "boolean":
		_, ok = x.(bool)
	case "array":
		_, ok = x.([]any)
	case "object":
		_, ok = x.(map[string]any)
	default:
		ok = true
	}
	if !ok {
		return nil, fmt.Errorf("not a JSON %s", typ)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(v)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
