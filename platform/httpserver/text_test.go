package httpserver

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

type nulInner struct {
	Email string  `json:"email"`
	Note  *string `json:"note,omitempty"`
}

type NulEmbedded struct {
	Promoted string `json:"promoted"`
}

type nulBody struct {
	NulEmbedded
	Name     string            `json:"name"`
	Desc     *string           `json:"description,omitempty"`
	Owner    nulInner          `json:"owner"`
	OwnerPtr *nulInner         `json:"owner_ptr"`
	Groups   []string          `json:"groups"`
	GroupPtr *[]string         `json:"group_ptr"`
	Labels   map[string]string `json:"labels"`
	Any      any               `json:"any"`
	Raw      []byte            `json:"raw"`
	Untagged string
	Skipped  string `json:"-"`
	hidden   string
}

func TestNULFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{name: "clean", body: `{"name":"a","description":"b\n\tc","groups":["x"],"labels":{"k":"v"},"any":{"a":["b"]}}`},
		{name: "top level", body: `{"name":"a\u0000b"}`, want: []string{"name"}},
		{name: "pointer", body: `{"description":"\u0000"}`, want: []string{"description"}},
		{name: "nested", body: `{"owner":{"email":"a\u0000@x"}}`, want: []string{"owner.email"}},
		{name: "nested pointer", body: `{"owner_ptr":{"note":"\u0000"}}`, want: []string{"owner_ptr.note"}},
		{name: "slice", body: `{"groups":["ok","r\u0000ot"]}`, want: []string{"groups[1]"}},
		{name: "pointer to slice", body: `{"group_ptr":["\u0000"]}`, want: []string{"group_ptr[0]"}},
		{name: "map value", body: `{"labels":{"env":"\u0000"}}`, want: []string{"labels.env"}},
		{name: "map key", body: `{"labels":{"e\u0000v":"x"}}`, want: []string{"labels"}},
		{name: "any", body: `{"any":{"a":[1,"\u0000"]}}`, want: []string{"any.a[1]"}},
		{name: "embedded", body: `{"promoted":"\u0000"}`, want: []string{"promoted"}},
		{name: "untagged", body: `{"Untagged":"\u0000"}`, want: []string{"Untagged"}},
		{name: "bytes are binary", body: `{"raw":"AAA="}`},
		{name: "several", body: `{"name":"\u0000","owner":{"email":"\u0000"}}`, want: []string{"name", "owner.email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b nulBody
			require.NoError(t, json.Unmarshal([]byte(tc.body), &b))
			b.Skipped, b.hidden = "\x00", "\x00" // json never fills them
			var got []string
			for _, f := range nulFields(&b) {
				require.Equal(t, NULReason, f.Reason)
				got = append(got, f.Field)
			}
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, []derrors.FieldError{{Field: "body", Reason: NULReason}}, nulFields(new("\x00")))
}
