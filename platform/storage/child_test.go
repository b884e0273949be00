package storage

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
)

func TestCreateChildMakesAMissingParentNotFound(t *testing.T) {
	refused := derrors.MissingParent("widgets.project_id", errors.New("driver says no"))
	err := CreateChild("project", "prj_1", func() error { return refused })
	var de *derrors.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, derrors.CodeNotFound, de.Code)
	require.Equal(t, "project prj_1 not found", de.Message)
	require.ErrorIs(t, err, refused, "the store's error stays the cause")

	for _, other := range []error{nil, derrors.Conflict("widgets.id", nil), derrors.Unavailable("postgres", errors.New("down"))} {
		require.Equal(t, other, CreateChild("project", "prj_1", func() error { return other }))
	}
}
