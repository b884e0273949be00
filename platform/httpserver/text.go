package httpserver

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// NULReason is the reason a text field holding NUL (U+0000) is refused
// with. PostgreSQL's text type cannot hold NUL and the JSON store can, so
// such a value would be stored on one backend and altered or refused on the
// other. Rather than leave that to each field's validation, the edge refuses
// it everywhere: every string of a decoded JSON body however deep (Decode),
// every query parameter and header an operation declares (Register).
const NULReason = "must not contain the NUL control character (U+0000)"

// nulFields lists the strings of v holding NUL, each named by its JSON path
// ("name", "owner.email", "groups[1]", "labels.env").
func nulFields(v any) []derrors.FieldError {
	var out []derrors.FieldError
	walkNUL(reflect.ValueOf(v), "", &out)
	return out
}

func walkNUL(v reflect.Value, path string, out *[]derrors.FieldError) {
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			*out = append(*out, derrors.FieldError{Field: fieldPath(path), Reason: NULReason})
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkNUL(v.Elem(), path, out)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := jsonFieldName(f)
			switch {
			case !ok:
			case name == "" && f.Anonymous:
				walkNUL(v.Field(i), path, out) // promoted fields, as encoding/json reads them
			case name == "":
				walkNUL(v.Field(i), joinPath(path, f.Name), out)
			default:
				walkNUL(v.Field(i), joinPath(path, name), out)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte is base64 in JSON: binary, not text
		}
		for i := range v.Len() {
			walkNUL(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			key := fmt.Sprint(k)
			if strings.IndexByte(key, 0) >= 0 {
				*out = append(*out, derrors.FieldError{Field: fieldPath(path), Reason: NULReason})
				continue
			}
			walkNUL(v.MapIndex(k), joinPath(path, key), out)
		}
	}
}

// jsonFieldName returns the name encoding/json gives f ("" when it has no
// tag name), and false for fields it never fills.
func jsonFieldName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if !f.IsExported() && !(f.Anonymous && name == "") {
		return "", false
	}
	return name, true
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldPath(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// refuseNULText returns the handler that refuses a request whose query
// parameters or headers, among those op declares (Query's `query` tags,
// Headers), hold NUL: 422 naming them. Parameters an operation does not
// declare are never read, so they are left alone. It returns nil when op
// declares neither.
func refuseNULText(op Operation) fiber.Handler {
	var params, headers []string
	if op.Query != nil {
		params = queryNames(reflect.TypeOf(op.Query))
	}
	for _, h := range op.Headers {
		headers = append(headers, h.Name)
	}
	if len(params) == 0 && len(headers) == 0 {
		return nil
	}
	return func(c *fiber.Ctx) error {
		var fields []derrors.FieldError
		for _, p := range params {
			for _, v := range c.Context().QueryArgs().PeekMulti(p) {
				if bytes.IndexByte(v, 0) >= 0 {
					fields = append(fields, derrors.FieldError{Field: p, Reason: NULReason})
					break
				}
			}
		}
		for _, h := range headers {
			if strings.IndexByte(c.Get(h), 0) >= 0 {
				fields = append(fields, derrors.FieldError{Field: h, Reason: NULReason})
			}
		}
		if len(fields) > 0 {
			return derrors.Validation(fields...)
		}
		return c.Next()
	}
}

// queryNames lists the `query` tags of the struct t, embedded ones included.
func queryNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if name, ok := f.Tag.Lookup("query"); ok {
			names = append(names, name)
		} else if f.Anonymous {
			names = append(names, queryNames(f.Type)...)
		}
	}
	return names
}
