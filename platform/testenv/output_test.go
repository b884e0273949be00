package testenv

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOutputKeepsAtMostMax(t *testing.T) {
	o := &Output{Max: 5}
	for _, w := range []string{"abc", "defg", "hij"} {
		n, err := o.Write([]byte(w))
		require.NoError(t, err)
		require.Equal(t, len(w), n, "every write reported whole")
	}
	require.Equal(t, "abcde", o.String())

	var all Output
	_, _ = all.Write([]byte("no "))
	_, _ = all.Write([]byte("bound"))
	require.Equal(t, "no bound", all.String())
}
