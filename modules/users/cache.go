package users

import (
	"context"
	"sync"
	"time"
)

// changeWatcher is implemented by stores other processes can write to
// (PostgreSQL): it reports every changed user, and whether reports can be
// trusted right now.
type changeWatcher interface {
	WatchChanges(ctx context.Context, changed func(id string), reliable func(bool))
}

// userCache keeps recently used users for the auth guard, which needs the
// user on every request (disabled? which groups?). A database round trip per
// request would halve throughput on PostgreSQL, so the guard reads from here.
//
// It is only used while it is reliable: always for the JSON store (one process
// owns the data, and every write goes through this service, which evicts),
// and for PostgreSQL while the LISTEN connection is up (every update sends
// NOTIFY in its transaction, so other instances evict within milliseconds of
// the commit). A lost listener makes every read go to the database until it
// listens again and the cache has been emptied. Entries also expire after ttl,
// a bound on any bug in that reasoning.
type userCache struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu       sync.Mutex
	reliable bool
	gen      uint64 // bumped by every eviction, so a read racing one is not kept
	entries  map[string]cachedUser
}

type cachedUser struct {
	user    User
	expires time.Time
}

func newUserCache(reliable bool, ttl time.Duration, limit int) *userCache {
	return &userCache{ttl: ttl, limit: limit, now: time.Now, reliable: reliable, entries: map[string]cachedUser{}}
}

// get returns a copy of a cached user.
func (c *userCache) get(id string) (*User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reliable {
		return nil, false
	}
	e, ok := c.entries[id]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	u := e.user
	return &u, true
}

// generation is read before a store read; put keeps the result only if no
// eviction happened in between.
func (c *userCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *userCache) put(gen uint64, u *User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reliable || gen != c.gen {
		return
	}
	if len(c.entries) >= c.limit {
		c.entries = make(map[string]cachedUser, c.limit)
	}
	c.entries[u.ID] = cachedUser{user: *u, expires: c.now().Add(c.ttl)}
}

// evict drops one user: it changed.
func (c *userCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	c.gen++
}

// setReliable empties the cache and says whether it may be used.
func (c *userCache) setReliable(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]cachedUser{}
	c.gen++
	c.reliable = ok
}
