package caddymodule

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestEndpointCacheKeepsNoEndpointReadBeforeAWrite: a job route request
// resolves a job's endpoint while the consumer's remove is accepted (the
// job written with its removal in progress, which drops the job's cached
// entry). The endpoint it read before that write must not be cached
// after it: the route would serve the job being removed for a whole
// cache_ttl. Without a write in between it is cached.
func TestEndpointCacheKeepsNoEndpointReadBeforeAWrite(t *testing.T) {
	key := endpointKey{"alice", "J-cache-write"}
	t.Cleanup(func() { endpoints.Delete(key) })
	e := &cachedEndpoint{ep: jobs.Endpoint{JobID: key.id}, until: time.Now().Add(time.Hour)}

	gen := endpointWrites.Load()                                // the lookup starts
	jobEndpointChanged(&jobs.Job{Owner: key.owner, ID: key.id}) // the remove's write
	cacheEndpoint(key, e, gen)                                  // the lookup's result
	if _, ok := endpoints.Load(key); ok {
		t.Fatal("an endpoint read before the job's write was cached after it")
	}

	cacheEndpoint(key, e, endpointWrites.Load())
	if v, ok := endpoints.Load(key); !ok || v != e {
		t.Fatal("an endpoint read with no write since was not cached")
	}
}
