package apptest_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/httpserver"
)

// TestTextNeverHoldsNUL is the one text rule of both record backends:
// PostgreSQL's text cannot hold NUL (U+0000) and the JSON store can, so
// every text a request carries must be refused with a 422 naming it, and
// nothing may be stored. The cases come from the registered operations:
// every string field of every request body (nested, pointers and lists
// included), every declared query parameter and every declared header, so
// a new module's fields are covered without a line here.
func TestTextNeverHoldsNUL(t *testing.T) {
	t.Run("json", func(t *testing.T) { textNeverHoldsNUL(t, apptest.Start(t)) })
	t.Run("postgres", func(t *testing.T) { textNeverHoldsNUL(t, apptest.Start(t, apptest.Postgres(t))) })
}

// wantCovered are cases the operations must yield; if reflection over them
// ever finds nothing, this fails rather than passing vacuously.
var wantCovered = []string{
	"createProject body name", "createProject body description",
	"updateProject body name", "updateProject body description",
	"createRepository body url", "createRepository body name", "createRepository body default_branch",
	"updateRepository body url", "updateRepository body name", "updateRepository body default_branch",
	"createRun body prompt", "createRun body branch", "createRun header Idempotency-Key",
	"signUp body email", "signUp body password", "signUp body display_name",
	"logIn body email", "logIn body password",
	"updateUser body groups[0]",
	"listRuns query status", "listProjects query cursor",
}

// validBodies make each case's body valid but for its NUL, where known, so
// that without the rule the request would succeed and store the text (as
// it did: 201 on both backends, "ab" read back from PostgreSQL). An
// operation missing here still gets its cases, with only the NUL field.
var validBodies = map[string]map[string]any{
	"createProject":    {"name": "p", "description": "d"},
	"updateProject":    {"name": "p2"},
	"createRepository": {"url": "https://git.example.org/team/other.git"},
	"updateRepository": {"name": "r2"},
	"createRun":        {"prompt": "p"},
	"signUp":           {"email": "nul-case@example.com", "password": "correct horse battery"},
	"logIn":            {"email": "nul-case@example.com", "password": "correct horse battery"},
	"updateUser":       {"groups": []string{"operator"}},
}

// volatileReads are reads whose answers change without any request here
// (the Docker host's containers are shared by every test on the machine).
var volatileReads = map[string]bool{"listContainers": true}

func textNeverHoldsNUL(t *testing.T, a *apptest.App) {
	root := a.CreateUser("root")
	victim := a.SignUp()
	res := a.Post("/v1/projects", root.Token, map[string]any{"name": "p", "description": "d"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	projectID := res.JSON(t)["id"].(string)
	res = a.Post("/v1/projects/"+projectID+"/repositories", root.Token, map[string]any{"url": "https://git.example.org/team/app.git"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	fixtures := map[string]string{"project_id": projectID, "repository_id": res.JSON(t)["id"].(string), "user_id": victim.ID}

	ops := a.Server.Operations()
	snapshot := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, op := range ops {
			if op.Method != http.MethodGet || op.Access == httpserver.Public || volatileReads[op.ID] ||
				len(op.Responses) == 0 || op.Responses[0].Body == nil || op.Responses[0].ContentType != "" {
				continue
			}
			path, ok := fillPath(op, fixtures)
			if !ok {
				continue
			}
			if slices.Contains(queryParams(op), "all") {
				path += "?all=true"
			}
			res := a.Get(path, root.Token)
			require.Equal(t, http.StatusOK, res.Status, "%s: %s", path, res.Body)
			out[path] = string(res.Body)
		}
		return out
	}
	require.Contains(t, snapshot(), "/v1/projects?all=true", "the snapshot reads the records")

	var covered []string
	for _, op := range ops {
		path, _ := fillPath(op, fixtures) // an unknown id still meets the edge's checks first
		token := root.Token
		if op.Access == httpserver.Public {
			token = ""
		}
		var cases []nulCase
		if op.Request != nil {
			for _, f := range textFields(reflect.TypeOf(op.Request), "") {
				body := f.body("a\x00b").(map[string]any)
				for k, v := range validBodies[op.ID] {
					if _, set := body[k]; !set {
						body[k] = v
					}
				}
				cases = append(cases, nulCase{kind: "body", field: f.name, body: body})
			}
		}
		for _, q := range queryParams(op) {
			cases = append(cases, nulCase{kind: "query", field: q, query: "?" + url.Values{q: {"a\x00b"}}.Encode()})
		}
		for _, h := range op.Headers {
			cases = append(cases, nulCase{kind: "header", field: h.Name, header: h.Name})
		}
		for _, c := range cases {
			name := op.ID + " " + c.kind + " " + c.field
			covered = append(covered, name)
			t.Run(name, func(t *testing.T) {
				before := snapshot()
				var status int
				var body []byte
				if c.kind == "header" {
					// Go's client refuses to send NUL in a header.
					status, body = rawRequest(t, a, op.Method, path, token, c.header+": a\x00b")
				} else {
					res := a.Do(apptest.Request{Method: op.Method, Path: path + c.query, Token: token, Body: c.body})
					status, body = res.Status, res.Body
				}
				require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
				requireNULField(t, body, c.field)
				require.Equal(t, before, snapshot(), "a refused request changed what is stored")
			})
		}
	}
	for _, want := range wantCovered {
		require.Contains(t, covered, want, "the operations no longer yield this case")
	}
}

type nulCase struct {
	kind, field string
	body        any    // JSON body (kind body)
	query       string // query string (kind query)
	header      string // header name (kind header)
}

// requireNULField checks a validation_error envelope names field for NUL.
func requireNULField(t *testing.T, raw []byte, field string) {
	t.Helper()
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				Fields []struct{ Field, Reason string } `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &env), "%s", raw)
	require.Equal(t, "validation_error", env.Error.Code, "%s", raw)
	for _, f := range env.Error.Details.Fields {
		if f.Field == field {
			require.Equal(t, httpserver.NULReason, f.Reason, "%s", raw)
			return
		}
	}
	require.Failf(t, "field not named", "want %q in %s", field, raw)
}

var pathParam = regexp.MustCompile(`:[a-z_]+`)

// fillPath puts the fixtures' ids into op's path; ok is false when a
// parameter has no fixture (it then holds a well-formed unknown id).
func fillPath(op httpserver.Operation, fixtures map[string]string) (string, bool) {
	ok := true
	path := pathParam.ReplaceAllStringFunc(op.FullPath(), func(p string) string {
		if id, found := fixtures[p[1:]]; found {
			return id
		}
		ok = false
		return "unknown"
	})
	return path, ok
}

// queryParams lists the `query` tags of op's Query struct.
func queryParams(op httpserver.Operation) []string {
	if op.Query == nil {
		return nil
	}
	var walk func(reflect.Type) []string
	walk = func(t reflect.Type) []string {
		var out []string
		for i := range t.NumField() {
			f := t.Field(i)
			if name, ok := f.Tag.Lookup("query"); ok {
				out = append(out, name)
			} else if f.Anonymous && f.Type.Kind() == reflect.Struct {
				out = append(out, walk(f.Type)...)
			}
		}
		return out
	}
	return walk(reflect.TypeOf(op.Query))
}

// textField is one string in a request type: its name as details.fields
// gives it, and how to build a body holding a value there.
type textField struct {
	name string
	body func(v string) any
}

// textFields finds every string reachable in t the way encoding/json
// decodes it: struct fields by JSON name (embedded ones promoted),
// pointers, the first element of lists, a key "k" of maps.
func textFields(t reflect.Type, prefix string) []textField {
	join := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	switch t.Kind() {
	case reflect.Pointer:
		return textFields(t.Elem(), prefix)
	case reflect.String:
		return []textField{{name: prefix, body: func(v string) any { return v }}}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		var out []textField
		for _, f := range textFields(t.Elem(), prefix+"[0]") {
			out = append(out, textField{name: f.name, body: func(v string) any { return []any{f.body(v)} }})
		}
		return out
	case reflect.Map:
		var out []textField
		for _, f := range textFields(t.Elem(), join("k")) {
			out = append(out, textField{name: f.name, body: func(v string) any { return map[string]any{"k": f.body(v)} }})
		}
		return out
	case reflect.Struct:
		var out []textField
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			switch {
			case tag == "-" || (!sf.IsExported() && !sf.Anonymous):
				continue
			case name == "" && sf.Anonymous:
				out = append(out, textFields(sf.Type, prefix)...)
				continue
			case name == "":
				name = sf.Name
			}
			for _, f := range textFields(sf.Type, join(name)) {
				out = append(out, textField{name: f.name, body: func(v string) any { return map[string]any{name: f.body(v)} }})
			}
		}
		return out
	}
	return nil
}

// rawRequest sends a request with one extra header line as given, over a
// plain connection, and returns the status and body.
func rawRequest(t *testing.T, a *apptest.App, method, path, token, header string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", a.Server.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s\r\n\r\n", method, path, auth, header)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, raw
}
