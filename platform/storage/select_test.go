package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
)

func TestSelectCallsTheOpenBackendsConstructor(t *testing.T) {
	newJSON := func(*jsonstore.Store) (string, error) { return "json", nil }
	newPostgres := func(*bun.DB) string { return "postgres" }

	got, err := Select(&Records{Backend: "json", JSON: &jsonstore.Store{}}, newJSON, newPostgres)
	require.NoError(t, err)
	require.Equal(t, "json", got)
	got, err = Select(&Records{Backend: "postgres", DB: &bun.DB{}}, newJSON, newPostgres)
	require.NoError(t, err)
	require.Equal(t, "postgres", got)
	_, err = Select(&Records{Backend: "tape"}, newJSON, newPostgres)
	require.ErrorContains(t, err, `records backend "tape"`)
}
