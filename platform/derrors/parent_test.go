package derrors

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMissingParentIsAConflictOnTheField(t *testing.T) {
	driver := errors.New("violates foreign key constraint")
	for _, cause := range []error{nil, driver} {
		err := MissingParent("repositories.project_id", cause)
		require.ErrorIs(t, err, ErrMissingParent)
		require.ErrorIs(t, err, ErrConflict)
		require.Equal(t, KindConflict, KindOf(err))
		var ce *ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "repositories.project_id", ce.What)
		if cause != nil {
			require.ErrorIs(t, err, driver, "the driver's error is kept for the log")
		}
	}
	require.NotErrorIs(t, Conflict("repositories.id", nil), ErrMissingParent, "other conflicts are not")
}
