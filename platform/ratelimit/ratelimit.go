// Package ratelimit counts attempts per key in fixed windows, in memory. It
// guards login against password guessing per email and per client address;
// one process's view is enough for that, so it needs no shared store.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows at most Limit attempts per key in each Window.
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	sweepAt time.Time
}

type entry struct {
	start time.Time
	count int
}

// New returns a limiter of limit attempts per window.
func New(limit int, window time.Duration) *Limiter {
	return &Limiter{limit: limit, window: window, now: time.Now, entries: map[string]*entry{}}
}

// Allow records an attempt for key and reports whether it is within the limit;
// when it is not, retryAfter says when the window ends.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.sweepAt) {
		l.sweep(now)
	}
	e := l.entries[key]
	if e == nil || now.Sub(e.start) >= l.window {
		e = &entry{start: now}
		l.entries[key] = e
	}
	e.count++
	if e.count > l.limit {
		return false, e.start.Add(l.window).Sub(now)
	}
	return true, 0
}

// sweep drops finished windows so the map cannot grow without bound.
func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.start) >= l.window {
			delete(l.entries, k)
		}
	}
	l.sweepAt = now.Add(l.window)
}
