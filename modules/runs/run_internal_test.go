package runs

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCanMove checks every pair of statuses against the life of a run:
// queued → preparing → running → a terminal status, a queued run canceled
// before it starts, a preparing run ending without success, and nothing out
// of a terminal status nor out of, or into, an unknown one.
func TestCanMove(t *testing.T) {
	// Columns, in order: queued preparing running succeeded failed canceled
	// timed_out interrupted. "y" allowed, "." refused.
	allowed := map[Status]string{
		StatusQueued:      ".y...y..",
		StatusPreparing:   "..y.yyyy",
		StatusRunning:     "...yyyyy",
		StatusSucceeded:   "........",
		StatusFailed:      "........",
		StatusCanceled:    "........",
		StatusTimedOut:    "........",
		StatusInterrupted: "........",
	}
	require.Len(t, allowed, len(Statuses), "a row for every status")
	for _, from := range Statuses {
		for i, to := range Statuses {
			want := allowed[from][i] == 'y'
			require.Equal(t, want, CanMove(from, to), "%s → %s", from, to)
			if want {
				require.False(t, from.Terminal(), "%s is final, yet may move", from)
			}
		}
	}
	for _, s := range slices.Concat(Statuses, []Status{"", "bogus"}) {
		require.False(t, CanMove("bogus", s), "bogus → %q", s)
		require.False(t, CanMove(s, "bogus"), "%q → bogus", s)
	}
}
