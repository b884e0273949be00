package runs

import (
	"fmt"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
)

// followLimits counts the open log and event streams, per user and on this
// instance: each holds a connection and a goroutine for as long as its run
// lasts.
type followLimits struct {
	max, perUser int

	mu     sync.Mutex
	total  int
	byUser map[string]int
}

func newFollowLimits(max, perUser int) *followLimits {
	return &followLimits{max: max, perUser: perUser, byUser: map[string]int{}}
}

// acquire takes a stream for user, or says which limit is reached. The
// release it returns may be called more than once.
func (l *followLimits) acquire(user string, retryAfter time.Duration) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.byUser[user] >= l.perUser:
		return nil, derrors.TooMany(derrors.CodeRateLimited,
			fmt.Sprintf("you already follow %d run logs or timelines; close one first", l.perUser), retryAfter).
			WithDetail("limit", l.perUser)
	case l.total >= l.max:
		return nil, derrors.TooMany(derrors.CodeRateLimited,
			"this server streams as many run logs and timelines as it can; try again shortly", retryAfter)
	}
	l.total++
	l.byUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byUser[user]--; l.byUser[user] == 0 {
				delete(l.byUser, user)
			}
		})
	}, nil
}

// acquireFollow takes one of the caller's log streams, released when the
// stream ends, or answers 429 rate_limited when a cap is reached.
func (s *Service) acquireFollow(caller identity.Principal) (release func(), err error) {
	return s.follows.acquire(caller.ID, s.tuning.FollowRetryAfter)
}
