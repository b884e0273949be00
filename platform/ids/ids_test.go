package ids

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Prefixes of this test only; modules declare their own.
const (
	widget Prefix = "wid"
	gadget Prefix = "gad"
)

func TestNewIsValidAndOrdered(t *testing.T) {
	prev := ""
	for i := 0; i < 1000; i++ {
		id := New(widget)
		require.True(t, Valid(widget, id), id)
		require.False(t, Valid(gadget, id))
		require.Greater(t, id, prev)
		prev = id
	}
}

func TestValidRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "wid_", "wid_zzzzzzzzzzzzzzzzzzzzzzzzzz", "wid-01j0000000000000000000000",
		"../etc/passwd", "wi_01j00000000000000000000000", "WID_01j00000000000000000000000"} {
		require.False(t, Valid(widget, s), s)
	}
}

func TestSplitNamesAnyKind(t *testing.T) {
	for _, p := range []Prefix{widget, gadget, "ab", "abcdefgh"} {
		got, ok := Split(New(p))
		require.True(t, ok, p)
		require.Equal(t, p, got)
	}
	for _, s := range []string{"", "x", "wid_x", "_01j00000000000000000000000", "a_01j00000000000000000000000",
		"w1d_01j00000000000000000000000", "wid_zzzzzzzzzzzzzzzzzzzzzzzzzz", "usr_cognito-subject"} {
		_, ok := Split(s)
		require.False(t, ok, s)
	}
}

func TestPrefixCheck(t *testing.T) {
	for p, ok := range map[Prefix]bool{"prj": true, "ab": true, "abcdefgh": true,
		"a": false, "abcdefghi": false, "pr_j": false, "Prj": false, "pr1": false, "": false} {
		require.Equal(t, ok, p.Check(), p)
	}
}
