// Package safecache is a ristretto cache that can be closed while other
// goroutines still use it.
//
// ristretto's Set and Del check for a closed cache before, not
// atomically with, their send on a channel that Close closes. A request
// still writing a job, or placing one, while the broker stops (Caddy
// stops the csb app while the old HTTP servers drain their requests, on
// a reload too) sent on the closed channel and panicked, or blocked for
// good on the full buffer once Close had stopped its reader. Here every
// call holds a read lock and Close the write lock: Close waits for the
// calls under way, and every call after it is a miss (Get) or nothing.
package safecache

import (
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Cache wraps a ristretto cache keyed by string.
type Cache[V any] struct {
	mu     sync.RWMutex
	closed bool
	c      *ristretto.Cache[string, V]
}

// New returns a Cache over a new ristretto cache made with cfg.
func New[V any](cfg *ristretto.Config[string, V]) (*Cache[V], error) {
	c, err := ristretto.NewCache(cfg)
	if err != nil {
		return nil, err
	}
	return &Cache[V]{c: c}, nil
}

// Get is ristretto's Get; a miss once closed.
func (sc *Cache[V]) Get(key string) (V, bool) {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	if sc.closed {
		var zero V
		return zero, false
	}
	return sc.c.Get(key)
}

// Set is ristretto's Set (ttl 0: no expiry); nothing once closed.
func (sc *Cache[V]) Set(key string, v V, cost int64, ttl time.Duration) {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	if !sc.closed {
		sc.c.SetWithTTL(key, v, cost, ttl)
	}
}

// Del is ristretto's Del; nothing once closed.
func (sc *Cache[V]) Del(key string) {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	if !sc.closed {
		sc.c.Del(key)
	}
}

// UpdateMaxCost is ristretto's; nothing once closed.
func (sc *Cache[V]) UpdateMaxCost(n int64) {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	if !sc.closed {
		sc.c.UpdateMaxCost(n)
	}
}

// Wait is ristretto's Wait (tests use it to see their Sets applied).
func (sc *Cache[V]) Wait() {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	if !sc.closed {
		sc.c.Wait()
	}
}

// Close closes the cache once the calls under way have returned.
func (sc *Cache[V]) Close() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.closed {
		sc.closed = true
		sc.c.Close()
	}
}
