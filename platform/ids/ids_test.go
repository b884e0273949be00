package ids

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewIsValidAndOrdered(t *testing.T) {
	prev := ""
	for i := 0; i < 1000; i++ {
		id := New(Project)
		require.True(t, Valid(Project, id), id)
		require.False(t, Valid(User, id))
		require.Greater(t, id, prev)
		prev = id
	}
}

func TestValidRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "prj_", "prj_zzzzzzzzzzzzzzzzzzzzzzzzzz", "prj-01j0000000000000000000000", "../etc/passwd"} {
		require.False(t, Valid(Project, s), s)
	}
}
