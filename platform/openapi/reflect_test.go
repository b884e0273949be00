package openapi_test

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/openapi"
)

// responseSchema builds a one-operation document answering body and returns
// the component schema of body's type and the document.
func responseSchema(t *testing.T, body any) (map[string]any, map[string]any) {
	t.Helper()
	raw, err := openapi.Build(sampleInfo, []httpserver.Operation{{
		Method: "GET", Path: "/x", ID: "x", Responses: []httpserver.Response{{Status: 200, Body: body}},
	}})
	require.NoError(t, err)
	doc := decode(t, raw)
	return component(t, doc, dig(t, doc, "paths", "/v1/x", "get", "responses", "200", "content", "application/json", "schema")), doc
}

type Inner struct {
	A        string `json:"a"`
	B        string
	Shadowed string `json:"shadowed"`
}

type Other struct {
	A string `json:"a"`
	C string `json:"c"`
}

type Deep struct {
	D string `json:"d"`
}

type Middle struct {
	Deep
	M string `json:"m"`
}

// Tricky exercises encoding/json's naming rules.
type Tricky struct {
	Inner
	*Other
	Middle
	Shadowed int  `json:"shadowed"`
	Tagged   Deep `json:"tagged"`
	//lint:ignore SA5008 "-," is encoding/json's way to name a field "-"; the reflector must follow it
	Dash    string `json:"-,"`
	Skip    string `json:"-"`
	Plain   string
	private string
}

// TestBuildFollowsEncodingJSON checks the property names against what
// encoding/json really writes.
func TestBuildFollowsEncodingJSON(t *testing.T) {
	v := Tricky{Inner: Inner{A: "a", B: "b", Shadowed: "s"}, Other: &Other{A: "a2", C: "c"},
		Middle: Middle{Deep: Deep{D: "d"}, M: "m"}, Shadowed: 1, Dash: "dash", Skip: "skip", Plain: "p", private: "x"}
	out, err := json.Marshal(v)
	require.NoError(t, err)
	var written map[string]any
	require.NoError(t, json.Unmarshal(out, &written))

	s, _ := responseSchema(t, Tricky{})
	props := s["properties"].(map[string]any)
	require.Equal(t, slices.Sorted(maps.Keys(written)), slices.Sorted(maps.Keys(props)))
	require.Equal(t, map[string]any{"type": "integer", "format": "int64"}, props["shadowed"])
	// Fields reached through the embedded pointer are optional.
	require.Equal(t, []any{"B", "d", "m", "shadowed", "tagged", "-", "Plain"}, s["required"])
}

type Kinds struct {
	Bytes    []byte         `json:"bytes"`
	Count    uint16         `json:"count"`
	Ratio    float32        `json:"ratio"`
	Score    float64        `json:"score"`
	Small    int32          `json:"small"`
	Pair     [2]string      `json:"pair"`
	Anything any            `json:"anything"`
	Addr     netip.Addr     `json:"addr" format:"ipv4"`
	Wait     time.Duration  `json:"wait" doc:"Nanoseconds."`
	ByID     map[int]string `json:"by_id"`
	Maybe    *[]int         `json:"maybe"`
	Nested   struct {
		X bool `json:"x" example:"true"`
	} `json:"nested"`
}

func TestBuildKinds(t *testing.T) {
	s, doc := responseSchema(t, Kinds{})
	props := s["properties"].(map[string]any)
	two := 2.0
	for _, tc := range []struct {
		field string
		want  map[string]any
	}{
		{"bytes", map[string]any{"type": "string", "contentEncoding": "base64"}},
		{"count", map[string]any{"type": "integer", "minimum": 0.0}},
		{"ratio", map[string]any{"type": "number", "format": "float"}},
		{"score", map[string]any{"type": "number", "format": "double"}},
		{"small", map[string]any{"type": "integer", "format": "int32"}},
		{"pair", map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": two, "maxItems": two}},
		{"anything", map[string]any{}},
		{"addr", map[string]any{"type": "string", "format": "ipv4"}},
		{"wait", map[string]any{"type": "integer", "format": "int64", "description": "Nanoseconds."}},
		{"by_id", map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}},
		{"maybe", map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "integer", "format": "int64"}}},
		{"nested", map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "boolean", "examples": []any{true}}}, "required": []any{"x"}}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			require.Equal(t, tc.want, props[tc.field])
		})
	}
	// Anonymous structs are inlined, not named.
	require.ElementsMatch(t, []string{"Kinds", "InternalError", "HeadersTooLargeError"},
		slices.Collect(maps.Keys(dig(t, doc, "components", "schemas").(map[string]any))))
}
