package runs

import (
	"context"
	"time"

	"github.com/slipwayhq/slipway/platform/metrics"
)

// orNop returns m, or, when metrics are off, a metrics.Runs that records
// nothing, so the worker and service report without checking.
func orNop(m metrics.Runs) metrics.Runs {
	if m == nil {
		return nopRuns{}
	}
	return m
}

type nopRuns struct{}

func (nopRuns) RunClaimed(time.Duration)          {}
func (nopRuns) RunFinished(string, time.Duration) {}

// NewQueueProbe reads how many runs wait, and since when, from the records
// store: a run waits exactly when its record says queued, whichever queue
// backend carries its id. Metrics call it at each scrape.
func NewQueueProbe(store Store) metrics.QueueProbe {
	return func(ctx context.Context) (int, time.Time, error) {
		queued, err := store.ListStatus(ctx, StatusQueued)
		if err != nil || len(queued) == 0 {
			return 0, time.Time{}, err
		}
		return len(queued), queued[0].CreatedAt, nil // oldest first
	}
}
