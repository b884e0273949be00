package openapi_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/openapi"
)

// No OpenAPI 3.1 validator is among the module's dependencies, so
// wellFormed checks the invariants of the specification that a generator
// can get wrong, and returns each problem it finds.
func wellFormed(doc map[string]any) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if doc["openapi"] != "3.1.0" {
		bad("openapi is %v, not 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	for _, k := range []string{"title", "version"} {
		if s, _ := info[k].(string); s == "" {
			bad("info.%s is missing", k)
		}
	}
	components, _ := doc["components"].(map[string]any)
	componentName := regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	for kind, group := range components {
		for name := range group.(map[string]any) {
			if !componentName.MatchString(name) {
				bad("components.%s name %q is not allowed", kind, name)
			}
		}
	}
	schemes, _ := components["securitySchemes"].(map[string]any)
	declaredTags := map[string]bool{}
	for _, tag := range asSlice(doc["tags"]) {
		declaredTags[tag.(map[string]any)["name"].(string)] = true
	}

	// Every $ref resolves, wherever it is.
	walk(doc, func(v map[string]any, at string) {
		if ref, ok := v["$ref"].(string); ok && resolve(doc, ref) == nil {
			bad("%s: $ref %s does not resolve", at, ref)
		}
	}, "#")

	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	statusKey := regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	ids := map[string]string{}
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		bad("paths is missing")
	}
	for path, item := range paths {
		if !strings.HasPrefix(path, "/") {
			bad("path %s does not start with /", path)
		}
		var inTemplate []string
		for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		slices.Sort(inTemplate)
		for method, raw := range item.(map[string]any) {
			at := method + " " + path
			if !slices.Contains(methods, method) {
				bad("%s: %s is not a method", at, method)
				continue
			}
			op := raw.(map[string]any)
			id, _ := op["operationId"].(string)
			if id == "" {
				bad("%s: no operationId", at)
			} else if other, dup := ids[id]; dup {
				bad("%s: operationId %s also used by %s", at, id, other)
			}
			ids[id] = at
			for _, tag := range asSlice(op["tags"]) {
				if !declaredTags[tag.(string)] {
					bad("%s: tag %v not declared", at, tag)
				}
			}

			var inPath []string
			seen := map[string]bool{}
			for _, p := range asSlice(op["parameters"]) {
				pm := p.(map[string]any)
				name, _ := pm["name"].(string)
				in, _ := pm["in"].(string)
				if name == "" || !slices.Contains([]string{"path", "query", "header", "cookie"}, in) {
					bad("%s: parameter %v", at, pm)
				}
				if seen[in+" "+name] {
					bad("%s: %s parameter %s twice", at, in, name)
				}
				seen[in+" "+name] = true
				if _, ok := pm["schema"].(map[string]any); !ok {
					bad("%s: parameter %s has no schema", at, name)
				}
				if in == "path" {
					inPath = append(inPath, name)
					if pm["required"] != true {
						bad("%s: path parameter %s is not required", at, name)
					}
				}
			}
			slices.Sort(inPath)
			if !slices.Equal(inPath, inTemplate) {
				bad("%s: path parameters %v, template has %v", at, inPath, inTemplate)
			}

			if rb, ok := op["requestBody"].(map[string]any); ok {
				if c, _ := rb["content"].(map[string]any); len(c) == 0 {
					bad("%s: request body without content", at)
				}
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				bad("%s: no responses", at)
			}
			for code, r := range responses {
				if !statusKey.MatchString(code) {
					bad("%s: response key %s", at, code)
				}
				if d, _ := r.(map[string]any)["description"].(string); d == "" {
					bad("%s: response %s has no description", at, code)
				}
			}
			for _, req := range asSlice(op["security"]) {
				for name := range req.(map[string]any) {
					if _, ok := schemes[name]; !ok {
						bad("%s: security scheme %s not declared", at, name)
					}
				}
			}
		}
	}

	// Schemas: valid types, required properties that exist, enums that
	// admit the types they sit beside.
	schemaTypes := []string{"null", "boolean", "object", "array", "number", "string", "integer"}
	forEachSchema(doc, func(s map[string]any, at string) {
		var types []string
		switch ty := s["type"].(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		case nil:
		default:
			bad("%s: type %v", at, ty)
		}
		for _, ty := range types {
			if !slices.Contains(schemaTypes, ty) {
				bad("%s: type %s", at, ty)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := props[r.(string)]; !ok {
				bad("%s: required %v is not a property", at, r)
			}
		}
		if enum, ok := s["enum"].([]any); ok {
			if len(enum) == 0 {
				bad("%s: empty enum", at)
			}
			if slices.Contains(types, "null") && !slices.Contains(enum, any(nil)) {
				bad("%s: nullable, but null is not in the enum", at)
			}
		}
		switch s["additionalProperties"].(type) {
		case nil, bool, map[string]any:
		default:
			bad("%s: additionalProperties %v", at, s["additionalProperties"])
		}
		lo, hasLo := s["minimum"].(float64)
		hi, hasHi := s["maximum"].(float64)
		if hasLo && hasHi && lo > hi {
			bad("%s: minimum %v > maximum %v", at, lo, hi)
		}
	})
	slices.Sort(problems)
	return problems
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// walk calls f on every object in v, with its JSON pointer.
func walk(v any, f func(map[string]any, string), at string) {
	switch x := v.(type) {
	case map[string]any:
		f(x, at)
		for k, c := range x {
			walk(c, f, at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
		}
	case []any:
		for i, c := range x {
			walk(c, f, at+"/"+strconv.Itoa(i))
		}
	}
}

// resolve follows a local JSON pointer, or returns nil.
func resolve(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var v any = doc
	for _, step := range strings.Split(ref[2:], "/") {
		step = strings.ReplaceAll(strings.ReplaceAll(step, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[step]; !ok {
			return nil
		}
	}
	return v
}

// forEachSchema calls f on every schema in the document: components,
// parameters, bodies and headers, and the schemas nested in them.
func forEachSchema(doc map[string]any, f func(map[string]any, string)) {
	var visit func(s any, at string)
	visit = func(s any, at string) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		f(m, at)
		if props, ok := m["properties"].(map[string]any); ok {
			for k, p := range props {
				visit(p, at+"/properties/"+k)
			}
		}
		visit(m["items"], at+"/items")
		visit(m["additionalProperties"], at+"/additionalProperties")
		for i, a := range asSlice(m["anyOf"]) {
			visit(a, at+"/anyOf/"+strconv.Itoa(i))
		}
	}
	walk(doc, func(v map[string]any, at string) {
		switch {
		case strings.HasPrefix(at, "#/components/schemas/") && strings.Count(at, "/") == 3:
			visit(v, at)
		case strings.HasSuffix(at, "/schema") && !strings.HasPrefix(at, "#/components/schemas/"):
			visit(v, at)
		}
	}, "#")
}

func TestBuildIsWellFormed(t *testing.T) {
	raw, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	require.Empty(t, wellFormed(decode(t, raw)))
}

// TestWellFormedFindsProblems shows that the checker above can fail.
func TestWellFormedFindsProblems(t *testing.T) {
	raw, err := openapi.Build(sampleInfo, sampleOps())
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		mutate func(doc map[string]any)
		want   string
	}{
		{"dangling ref", func(doc map[string]any) {
			delete(dig(t, doc, "components", "schemas").(map[string]any), "Project")
		}, "$ref #/components/schemas/Project does not resolve"},
		{"undeclared path parameter", func(doc map[string]any) {
			op := dig(t, doc, "paths", "/v1/projects/{project_id}", "get").(map[string]any)
			delete(op, "parameters")
		}, "get /v1/projects/{project_id}: path parameters [], template has [project_id]"},
		{"no responses", func(doc map[string]any) {
			op := dig(t, doc, "paths", "/v1/projects", "get").(map[string]any)
			op["responses"] = map[string]any{}
		}, "get /v1/projects: no responses"},
		{"required but absent", func(doc map[string]any) {
			s := dig(t, doc, "components", "schemas", "User").(map[string]any)
			s["required"] = append(s["required"].([]any), "nope")
		}, "#/components/schemas/User: required nope is not a property"},
		{"nullable enum without null", func(doc map[string]any) {
			s := dig(t, doc, "components", "schemas", "Run", "properties", "reason").(map[string]any)
			s["enum"] = []any{"oom"}
		}, "#/components/schemas/Run/properties/reason: nullable, but null is not in the enum"},
		{"duplicate operation id", func(doc map[string]any) {
			op := dig(t, doc, "paths", "/v1/projects", "get").(map[string]any)
			op["operationId"] = "createProject"
		}, "operationId createProject also used by"},
		{"undeclared security scheme", func(doc map[string]any) {
			delete(dig(t, doc, "components", "securitySchemes").(map[string]any), "bearerAuth")
		}, "security scheme bearerAuth not declared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			require.NoError(t, json.Unmarshal(raw, &doc))
			tc.mutate(doc)
			problems := wellFormed(doc)
			require.NotEmpty(t, problems)
			require.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }), "%q", problems)
		})
	}
}
