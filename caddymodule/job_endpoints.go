package caddymodule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// JobEndpoint resolves owner's job to the provider endpoint the job
// route proxies to (jobs.Manager.JobEndpoint), through a process-wide
// cache whose entries live ttl (0 or less: not cached). Every write of a
// job made by this broker drops its entry at once, and a lease's end is
// checked on every call; the TTL bounds only how long a change made by
// another broker of a cluster goes unseen.
func (a *App) JobEndpoint(ctx context.Context, owner, id string, ttl time.Duration) (jobs.Endpoint, error) {
	mgr := a.JobManager()
	if mgr == nil {
		return jobs.Endpoint{}, errors.New("the consumer interface is not running")
	}
	now := time.Now()
	if ttl > 0 {
		if v, ok := endpoints.Load(endpointKey{owner, id}); ok {
			e := v.(*cachedEndpoint)
			if now.Before(e.until) && (e.expires.IsZero() || now.Before(e.expires)) {
				return e.ep, nil
			}
		}
	}
	gen := endpointWrites.Load()
	ep, err := mgr.JobEndpoint(ctx, owner, id)
	if err != nil || ttl <= 0 {
		return ep, err
	}
	var expires time.Time
	if j, err := mgr.Get(ctx, owner, id); err == nil {
		expires = j.Expires
	}
	cacheEndpoint(endpointKey{owner, id}, &cachedEndpoint{ep: ep, until: now.Add(ttl), expires: expires}, gen)
	return ep, nil
}

// cacheEndpoint stores e, resolved after endpointWrites was gen, unless
// a job was written since: the write (a remove just accepted, say) may
// have dropped the entry before e, read before it, is stored, which
// would then serve the job as it was for a whole TTL. Stored first and
// checked after, so that a write whose count comes after the check
// drops e itself (jobEndpointChanged counts, then drops).
func cacheEndpoint(key endpointKey, e *cachedEndpoint, gen uint64) {
	endpoints.Store(key, e)
	if endpointWrites.Load() != gen {
		endpoints.CompareAndDelete(key, e)
	}
}

// endpointWrites counts the job writes of this process
// (jobEndpointChanged), for cacheEndpoint.
var endpointWrites atomic.Uint64

// cachedEndpoint is a resolved job endpoint, valid until until and, for a
// leased job, until the lease ends.
type cachedEndpoint struct {
	ep      jobs.Endpoint
	until   time.Time
	expires time.Time
}

// endpointKey is an owner's job id. The cache is keyed by both, so that
// another user's cached job is a miss exactly like an unknown id: both
// then take the job manager's same path (issue 15: answers do not tell
// which ids exist, not even by their timing).
type endpointKey struct{ owner, id string }

// endpoints caches resolved endpoints by endpointKey, for every source of
// the process (entries are dropped by jobEndpointChanged and by their
// TTL).
var endpoints sync.Map

// jobEndpointChanged is the job manager's OnChange hook: a job was
// written, so its cached endpoint goes.
func jobEndpointChanged(j *jobs.Job) {
	endpointWrites.Add(1)
	endpoints.Delete(endpointKey{j.Owner, j.ID})
}
