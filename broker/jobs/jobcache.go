package jobs

import (
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// jobCache is the manager's ristretto cache of settled job records,
// closed by Stop. ristretto's Set and Del send on a channel that Close
// closes, and check for a closed cache before, not atomically with, the
// send: a request still writing a job while the manager stops (Caddy
// stops the csb app while the old HTTP servers drain their requests, on
// a reload too) sent on the closed channel and panicked, or blocked for
// good on the full buffer once Close had stopped its reader. The lock
// makes Close wait for the calls under way, and every call after Close
// a miss (Get) or nothing (Set, Del).
type jobCache struct {
	mu     sync.RWMutex
	closed bool
	c      *ristretto.Cache[string, *cached]
}

func (jc *jobCache) get(id string) (*cached, bool) {
	jc.mu.RLock()
	defer jc.mu.RUnlock()
	if jc.closed {
		return nil, false
	}
	return jc.c.Get(id)
}

func (jc *jobCache) set(id string, v *cached, cost int64, ttl time.Duration) {
	jc.mu.RLock()
	defer jc.mu.RUnlock()
	if !jc.closed {
		jc.c.SetWithTTL(id, v, cost, ttl)
	}
}

func (jc *jobCache) del(id string) {
	jc.mu.RLock()
	defer jc.mu.RUnlock()
	if !jc.closed {
		jc.c.Del(id)
	}
}

func (jc *jobCache) updateMaxCost(n int64) {
	jc.mu.RLock()
	defer jc.mu.RUnlock()
	if !jc.closed {
		jc.c.UpdateMaxCost(n)
	}
}

func (jc *jobCache) close() {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if !jc.closed {
		jc.closed = true
		jc.c.Close()
	}
}
