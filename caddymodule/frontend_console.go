package caddymodule

// What the csb app exposes to northbound front-ends that use the engine
// in-process (the web console, caddymodule/csbconsole): the consumer
// settings a job is created with (the owner: ConsumerOwner in
// frontdoor.go), the subscriptions, and why a provider
// was not a placement candidate. Each reads the app's own configuration
// load, as the Consumer interface does.

import (
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// ConsumerCreateOptions returns the options a create for owner takes
// through the Consumer interface: the lease asked for (zero: the
// default), the idempotency key, and the owner's provider allow/deny
// lists.
func (a *App) ConsumerCreateOptions(owner, idempotencyKey string, lease time.Duration) jobs.CreateOptions {
	opt := jobs.CreateOptions{IdempotencyKey: idempotencyKey, Lease: lease}
	if a.Consumer != nil { // set by Provision; never written here, at request time
		opt.Access = a.Consumer.access(owner)
	}
	return opt
}

// SubscriptionStates returns the broker's subscriptions at providers as
// the subscription manager holds them, with credentials removed from
// their URLs; nil when the app has no engine.
func (a *App) SubscriptionStates() []publish.State {
	e := a.liveEngine()
	if e == nil {
		return nil
	}
	out := e.subs.Snapshot()
	for i := range out {
		out[i].URL = peerurl.RedactString(out[i].URL)
	}
	return out
}

// PlacementNotConsidered says why a configured provider is not a
// candidate of a placement decision on kind at all (what the admin API's
// explain reports for providers outside the decision).
func (a *App) PlacementNotConsidered(providerID string, kind catalog.Kind) string {
	if a.engine == nil {
		return "the broker is not running"
	}
	return a.notConsidered(providerID, kind)
}
