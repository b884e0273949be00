package identity

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroups(t *testing.T) {
	require.True(t, Principal{Groups: []string{GroupRoot}}.Has(GroupOperator), "root implies operator")
	require.False(t, Principal{Groups: []string{GroupOperator}}.Has(GroupRoot))
	require.True(t, Principal{Groups: []string{GroupOperator}}.IsOperator())
	require.False(t, Principal{}.IsOperator())
}
