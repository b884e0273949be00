package derrors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKindOf(t *testing.T) {
	for err, kind := range map[error]Kind{
		NotFound("run", "run_1"):                       KindNotFound,
		fmt.Errorf("get: %w", ErrNotFound):             KindNotFound,
		Conflict("users.email", nil):                   KindConflict,
		Unavailable("docker", errors.New("down")):      KindUnavailable,
		fmt.Errorf("x: %w", InvalidField("url", "no")): KindInvalid,
		New(CodeRunFinished, "done"):                   KindConflict,
		errors.New("a bug"):                            KindInternal,
		nil:                                            KindInternal,
	} {
		require.Equal(t, kind, KindOf(err), "%v", err)
	}
}

// TestDomainErrorsMatchSentinels lets callers ask errors.Is(err, ErrNotFound)
// whether a store or a service said it.
func TestDomainErrorsMatchSentinels(t *testing.T) {
	require.ErrorIs(t, NotFound("project", "prj_1"), ErrNotFound)
	require.ErrorIs(t, New(CodeEmailTaken, "taken"), ErrConflict)
	require.ErrorIs(t, New(CodeNotReady, "no"), ErrUnavailable)
	require.NotErrorIs(t, InvalidField("name", "empty"), ErrNotFound)
	require.True(t, KindRateLimited.Retryable())
	require.False(t, KindInvalid.Retryable())
}

func TestValidationMessage(t *testing.T) {
	e := Validation(FieldError{Field: "name", Reason: "is required"})
	require.Equal(t, "invalid name: is required", e.Message)
	require.Equal(t, []FieldError{{Field: "name", Reason: "is required"}}, e.Details["fields"])
	require.Equal(t, "request validation failed", Validation(FieldError{}, FieldError{}).Message)
	require.Equal(t, "not_found", KindNotFound.String())
}
