package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChecks(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Name("Apollo", 10), ""},
		{Name("", 10), "must not be empty"},
		{Name("   ", 10), "must not be empty"},
		{Name(strings.Repeat("é", 11), 10), "must be at most 10 characters"},
		{Name(strings.Repeat("é", 10), 10), ""},
		{Name("a\x00b", 10), "must not contain control characters"},
		{Name("a\x7fb", 10), "must not contain control characters"},
		{Text("line\nline\ttab", 20), ""},
		{Text(strings.Repeat("d", 21), 20), "must be at most 20 characters"},
		{Label("", 5), ""},
		{Label("a\nb", 5), "must not contain control characters"},
		{Label("abcdef", 5), "must be at most 5 characters"},
	} {
		require.Equal(t, c.want, c.got)
	}
}
