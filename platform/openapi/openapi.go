package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// OpenAPIVersion is the version of the specification Build follows.
const OpenAPIVersion = "3.1.0"

// Names Build gives to the parts of every document.
const (
	// BearerAuthScheme is the security scheme of authenticated operations.
	BearerAuthScheme = "bearerAuth"
	// RequestIDHeader is the component header every response carries.
	RequestIDHeader = "X-Request-ID"
)

// Info is the document's info object, and the descriptions of its tags.
type Info struct {
	Title       string
	Version     string
	Description string
	// Tags describes the tags operations use, by name.
	Tags map[string]string
}

// The document's objects, with the fields Build writes, in the order the
// specification lists them.
type (
	document struct {
		OpenAPI    string               `json:"openapi"`
		Info       infoObject           `json:"info"`
		Servers    []serverObject       `json:"servers"`
		Paths      map[string]*pathItem `json:"paths"`
		Components components           `json:"components"`
		Tags       []tagObject          `json:"tags,omitempty"`
	}
	infoObject struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description,omitempty"`
	}
	serverObject struct {
		URL         string `json:"url"`
		Description string `json:"description,omitempty"`
	}
	tagObject struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
	}
	components struct {
		Schemas         map[string]*schema         `json:"schemas"`
		Headers         map[string]*header         `json:"headers"`
		SecuritySchemes map[string]*securityScheme `json:"securitySchemes"`
	}
	securityScheme struct {
		Type         string `json:"type"`
		Scheme       string `json:"scheme"`
		BearerFormat string `json:"bearerFormat"`
		Description  string `json:"description"`
	}
	pathItem struct {
		Get     *operation `json:"get,omitempty"`
		Put     *operation `json:"put,omitempty"`
		Post    *operation `json:"post,omitempty"`
		Delete  *operation `json:"delete,omitempty"`
		Options *operation `json:"options,omitempty"`
		Head    *operation `json:"head,omitempty"`
		Patch   *operation `json:"patch,omitempty"`
		Trace   *operation `json:"trace,omitempty"`
	}
	operation struct {
		Tags        []string             `json:"tags,omitempty"`
		Summary     string               `json:"summary,omitempty"`
		Description string               `json:"description,omitempty"`
		OperationID string               `json:"operationId"`
		Parameters  []*parameter         `json:"parameters,omitempty"`
		RequestBody *requestBody         `json:"requestBody,omitempty"`
		Responses   map[string]*response `json:"responses"`
		// Security is [] on public operations: no credentials, said
		// explicitly rather than left to a default.
		Security []map[string][]string `json:"security"`
	}
	parameter struct {
		Name        string  `json:"name"`
		In          string  `json:"in"`
		Description string  `json:"description,omitempty"`
		Required    bool    `json:"required,omitempty"`
		Schema      *schema `json:"schema"`
	}
	requestBody struct {
		Required bool                  `json:"required"`
		Content  map[string]*mediaType `json:"content"`
	}
	mediaType struct {
		Schema *schema `json:"schema"`
	}
	response struct {
		Description string                `json:"description"`
		Headers     map[string]*header    `json:"headers,omitempty"`
		Content     map[string]*mediaType `json:"content,omitempty"`
	}
	header struct {
		Ref         string  `json:"$ref,omitempty"`
		Description string  `json:"description,omitempty"`
		Schema      *schema `json:"schema,omitempty"`
	}
)

// slot returns the field of p that holds method, or nil for a method
// OpenAPI has no field for.
func (p *pathItem) slot(method string) **operation {
	switch method {
	case http.MethodGet:
		return &p.Get
	case http.MethodPut:
		return &p.Put
	case http.MethodPost:
		return &p.Post
	case http.MethodDelete:
		return &p.Delete
	case http.MethodOptions:
		return &p.Options
	case http.MethodHead:
		return &p.Head
	case http.MethodPatch:
		return &p.Patch
	case http.MethodTrace:
		return &p.Trace
	}
	return nil
}

// textContentTypes are the non-JSON bodies the API sends, described as strings.
var textContentTypes = []string{"text/plain", "text/x-diff", "text/event-stream", "text/html", "text/css", "text/javascript"}

// accessDescriptions say who may call an operation, by its Access.
var accessDescriptions = map[httpserver.Access]string{
	httpserver.User:     "Requires a bearer token of any signed-in user.",
	httpserver.Operator: "Requires a bearer token of a user in the `operator` or `root` group.",
	httpserver.Root:     "Requires a bearer token of a user in the `root` group.",
}

// fiberParam matches a Fiber path parameter, with the optional marker.
var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)(\?)?`)

// convertPath turns a Fiber path into an OpenAPI template, its parameter
// names in order, and the template with names blanked, which identifies
// paths OpenAPI considers the same.
func convertPath(p string) (template string, params []string, shape string, err error) {
	if strings.ContainsAny(p, `*+\{}`) {
		return "", nil, "", fmt.Errorf("path %q uses wildcards, escapes or braces, which OpenAPI cannot express", p)
	}
	for _, m := range fiberParam.FindAllStringSubmatch(p, -1) {
		if m[2] != "" {
			return "", nil, "", fmt.Errorf("path %q has optional parameter %q, which OpenAPI cannot express", p, m[1])
		}
		if slices.Contains(params, m[1]) {
			return "", nil, "", fmt.Errorf("path %q repeats parameter %q", p, m[1])
		}
		params = append(params, m[1])
	}
	template = fiberParam.ReplaceAllString(p, "{$1}")
	if strings.Contains(template, ":") {
		return "", nil, "", fmt.Errorf("path %q has a malformed parameter", p)
	}
	return template, params, fiberParam.ReplaceAllString(p, "{}"), nil
}

// Build returns the OpenAPI 3.1 document, as indented JSON, of the API made
// of ops. It fails on an operation it cannot describe, on duplicate
// operation IDs, and on two operations with the same method and path.
func Build(info Info, ops []httpserver.Operation) (_ []byte, err error) {
	defer derrors.Wrap(&err, "openapi.Build")
	if info.Title == "" || info.Version == "" {
		return nil, errors.New("info needs a title and a version")
	}
	doc := &document{
		OpenAPI: OpenAPIVersion,
		Info:    infoObject{Title: info.Title, Version: info.Version, Description: info.Description},
		// Paths are absolute (/v1/…, /healthz): the document describes the
		// server that serves it, wherever that is.
		Servers: []serverObject{{URL: "/", Description: "The server that serves this document."}},
		Paths:   map[string]*pathItem{},
		Components: components{
			Schemas: map[string]*schema{},
			Headers: map[string]*header{RequestIDHeader: {
				Description: "The request's id: the client's `X-Request-ID` when it is a sane token of at most 128 characters, else one the server made. The access log line carries the same id.",
				Schema:      &schema{Type: "string"},
			}},
			SecuritySchemes: map[string]*securityScheme{BearerAuthScheme: {
				Type:         "http",
				Scheme:       "bearer",
				BearerFormat: "JWT",
				Description:  "An access token, sent as `Authorization: Bearer <token>`.",
			}},
		},
	}
	r := newReflector()
	ids := map[string]bool{}
	routes := map[string]bool{}
	templates := map[string]string{} // shape -> template
	tags := map[string]bool{}
	codes := map[string]derrors.Code{} // every code some operation answers
	for _, op := range ops {
		op.Method = strings.ToUpper(op.Method)
		if op.ID == "" {
			return nil, fmt.Errorf("operation %s %s has no ID", op.Method, op.Path)
		}
		if ids[op.ID] {
			return nil, fmt.Errorf("duplicate operation ID %q", op.ID)
		}
		ids[op.ID] = true
		o, template, shape, err := buildOperation(r, op)
		if err != nil {
			return nil, fmt.Errorf("operation %q: %w", op.ID, err)
		}
		byStatus, err := codesByStatus(op)
		if err != nil {
			return nil, fmt.Errorf("operation %q: %w", op.ID, err)
		}
		for status, cs := range byStatus {
			o.Responses[strconv.Itoa(status)] = errorResponse(status, cs)
			for _, c := range cs {
				if other, ok := codes[c.String()]; ok && other != c {
					return nil, fmt.Errorf("operation %q: error code %s declared with kinds %s and %s", op.ID, c, other.Kind(), c.Kind())
				}
				codes[c.String()] = c
			}
		}
		if other, ok := templates[shape]; ok && other != template {
			return nil, fmt.Errorf("operation %q: path %s differs from %s only in parameter names", op.ID, template, other)
		}
		templates[shape] = template
		route := op.Method + " " + template
		if routes[route] {
			return nil, fmt.Errorf("operation %q: duplicate route %s", op.ID, route)
		}
		routes[route] = true
		item := doc.Paths[template]
		if item == nil {
			item = &pathItem{}
			doc.Paths[template] = item
		}
		*item.slot(op.Method) = o
		for _, t := range op.Tags {
			tags[t] = true
		}
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		doc.Tags = append(doc.Tags, tagObject{Name: t, Description: info.Tags[t]})
	}

	// Error objects, one per code, under names reflected types yield to.
	var reserved []string
	for _, c := range codes {
		name := errorComponentName(c)
		doc.Components.Schemas[name] = errorComponent(c)
		reserved = append(reserved, name)
	}
	if _, ok := codes[derrors.CodeValidation.String()]; ok {
		doc.Components.Schemas[FieldErrorSchema] = fieldErrorComponent()
		reserved = append(reserved, FieldErrorSchema)
	}

	keys := make([]typeKey, 0, len(r.defs))
	for k := range r.defs {
		keys = append(keys, k)
	}
	names := nameComponents(keys, r.seq, reserved)
	for k, def := range r.defs {
		doc.Components.Schemas[names[k]] = def
	}
	for _, ref := range r.refs {
		ref.Ref = "#/components/schemas/" + names[*ref.ref]
	}

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// buildOperation describes one operation, returning it with its path
// template and the template's shape.
func buildOperation(r *reflector, op httpserver.Operation) (_ *operation, template, shape string, err error) {
	if (&pathItem{}).slot(op.Method) == nil {
		return nil, "", "", fmt.Errorf("method %q is not an HTTP method OpenAPI knows", op.Method)
	}
	if !strings.HasPrefix(op.Path, "/") {
		return nil, "", "", fmt.Errorf("path %q does not start with /", op.Path)
	}
	path := op.Path
	if !op.Unversioned {
		path = "/v1" + path
	}
	template, pathParams, shape, err := convertPath(path)
	if err != nil {
		return nil, "", "", err
	}
	o := &operation{
		Tags:        slices.Clone(op.Tags),
		Summary:     op.Summary,
		OperationID: op.ID,
		Responses:   map[string]*response{},
	}
	for _, p := range pathParams {
		o.Parameters = append(o.Parameters, &parameter{Name: p, In: "path", Required: true, Schema: &schema{Type: "string"}})
	}
	if op.Query != nil {
		qs, err := r.queryParams(deref(reflect.TypeOf(op.Query)))
		if err != nil {
			return nil, "", "", fmt.Errorf("query: %w", err)
		}
		o.Parameters = append(o.Parameters, qs...)
	}
	for _, h := range op.Headers {
		o.Parameters = append(o.Parameters, &parameter{Name: h.Name, In: "header", Description: h.Description, Required: h.Required, Schema: &schema{Type: "string"}})
	}
	seen := map[string]bool{}
	for _, p := range o.Parameters {
		key := p.In + " " + strings.ToLower(p.Name)
		if seen[key] {
			return nil, "", "", fmt.Errorf("%s parameter %q declared twice", p.In, p.Name)
		}
		seen[key] = true
	}

	if op.Request != nil {
		s, err := r.schemaFor(deref(reflect.TypeOf(op.Request)), requestMode)
		if err != nil {
			return nil, "", "", fmt.Errorf("request body: %w", err)
		}
		o.RequestBody = &requestBody{Required: true, Content: map[string]*mediaType{"application/json": {Schema: s}}}
	}

	if len(op.Responses) == 0 {
		return nil, "", "", errors.New("no success response")
	}
	for _, resp := range op.Responses {
		if resp.Status < 100 || resp.Status > 399 {
			return nil, "", "", fmt.Errorf("success response status %d is not 1xx to 3xx", resp.Status)
		}
		code := strconv.Itoa(resp.Status)
		out := o.Responses[code]
		if out == nil {
			out = &response{Description: resp.Description, Headers: requestIDHeaders()}
			if out.Description == "" {
				out.Description = http.StatusText(resp.Status)
			}
			o.Responses[code] = out
		}
		for _, h := range resp.Headers {
			if _, dup := out.Headers[h.Name]; dup {
				return nil, "", "", fmt.Errorf("response %d header %q declared twice", resp.Status, h.Name)
			}
			out.Headers[h.Name] = &header{Description: h.Description, Schema: &schema{Type: "string"}}
		}
		ct := resp.ContentType
		if ct == "" && resp.Body != nil {
			ct = "application/json"
		}
		if ct == "" {
			continue
		}
		if resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified {
			return nil, "", "", fmt.Errorf("response %d cannot have a body", resp.Status)
		}
		var s *schema
		switch {
		case resp.Body != nil:
			if s, err = r.schemaFor(deref(reflect.TypeOf(resp.Body)), responseMode); err != nil {
				return nil, "", "", fmt.Errorf("response %d: %w", resp.Status, err)
			}
		case slices.Contains(textContentTypes, mediaTypeOf(ct)):
			s = &schema{Type: "string"}
		default:
			return nil, "", "", fmt.Errorf("response %d: content type %s needs a Body value", resp.Status, ct)
		}
		if out.Content == nil {
			out.Content = map[string]*mediaType{}
		}
		if out.Content[ct] != nil {
			return nil, "", "", fmt.Errorf("response %d %s declared twice", resp.Status, ct)
		}
		out.Content[ct] = &mediaType{Schema: s}
	}

	o.Security = []map[string][]string{}
	if op.Access != httpserver.Public {
		desc, ok := accessDescriptions[op.Access]
		if !ok {
			return nil, "", "", fmt.Errorf("unknown access %q", op.Access)
		}
		o.Description = desc
		o.Security = []map[string][]string{{BearerAuthScheme: {}}}
	}
	return o, template, shape, nil
}

// queryParams reads a query struct's fields as query parameters.
func (r *reflector) queryParams(t reflect.Type) ([]*parameter, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("type %s is not a struct", t)
	}
	var out []*parameter
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("query")
		if tag == "-" {
			continue
		}
		if f.Anonymous && (!tagged || tag == "") && deref(f.Type).Kind() == reflect.Struct {
			inner, err := r.queryParams(deref(f.Type))
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			return nil, fmt.Errorf("field %s.%s has no query tag", t, f.Name)
		}
		ft := deref(f.Type)
		if !queryKindOK(ft) {
			return nil, fmt.Errorf("field %s.%s: type %s is not a query value", t, f.Name, f.Type)
		}
		s, err := r.schemaFor(ft, requestMode)
		if err != nil {
			return nil, fmt.Errorf("field %s.%s: %w", t, f.Name, err)
		}
		if err := applyTags(s, f.Tag); err != nil {
			return nil, fmt.Errorf("field %s.%s: %w", t, f.Name, err)
		}
		p := &parameter{Name: name, In: "query", Description: s.Description, Schema: s}
		s.Description = ""
		p.Required = slices.Contains(strings.Split(opts, ","), "required") || f.Tag.Get("required") == "true"
		out = append(out, p)
	}
	return out, nil
}

// queryKindOK reports whether t can be read from a query string: a scalar,
// a text type, or a slice of those.
func queryKindOK(t reflect.Type) bool {
	if t == timeType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Slice && queryKindOK(deref(t.Elem()))
	}
	return false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// mediaTypeOf drops a content type's parameters ("; charset=utf-8").
func mediaTypeOf(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func requestIDHeaders() map[string]*header {
	return map[string]*header{RequestIDHeader: {Ref: "#/components/headers/" + RequestIDHeader}}
}
