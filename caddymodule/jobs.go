package caddymodule

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// Anonymous-consumer behaviours (ConsumerConfig.Anonymous).
const (
	// AnonymousRefuse answers a request without an authenticated user
	// with HTTP 403: the Consumer interface needs an authentication
	// handler (basic_auth, digest_auth) in front of csb.
	AnonymousRefuse = "refuse"
	// AnonymousAllow lets requests without an authenticated user act as
	// the single owner "anonymous": they all share the same jobs, and a
	// job id is then the only thing that protects a job. No authenticated
	// user may act under that name (CheckUserName).
	AnonymousAllow = "allow"
)

// Unhonoured-field behaviours (ConsumerConfig.UnhonouredFields).
const (
	// UnhonouredRefuse refuses, with status 420 naming them, a request
	// that sets fields no candidate provider's adapter honours.
	UnhonouredRefuse = "refuse"
	// UnhonouredIgnore places such a request on a provider that drops
	// them (preferring providers that honour every field), and says which
	// fields were ignored: the Csb-Ignored-Fields response header, the
	// reason, and a log line once per consumer.
	UnhonouredIgnore = "ignore"
)

// AnonymousOwner is the owner of jobs created with "anonymous allow".
const AnonymousOwner = "anonymous"

// ConsumerConfig configures the Consumer interface's engine: the placement
// policy and the job manager. It is the csb app's "consumer" object,
// written in the Caddyfile with the placement and jobs subdirectives of
// the csb global option.
type ConsumerConfig struct {
	// PlacementRaw is the csb.placement.* policy that ranks matching
	// providers. Default: first (configuration order).
	PlacementRaw json.RawMessage `json:"placement,omitempty" caddy:"namespace=csb.placement inline_key=policy"`

	// LeaseDefault is the lease granted to a job when the consumer asks
	// for none (the Csb-Lease request header asks for one). Default 1h.
	LeaseDefault caddy.Duration `json:"lease_default,omitempty"`
	// LeaseMin is the shortest lease granted. Default 5m, the draft's
	// recommended minimum of 300 s.
	LeaseMin caddy.Duration `json:"lease_min,omitempty"`
	// LeaseMax is the longest lease granted. Default 720h.
	LeaseMax caddy.Duration `json:"lease_max,omitempty"`
	// ReapInterval is how often ended leases are reclaimed, orphans
	// retried and abandoned operations taken over. Default 30s.
	ReapInterval caddy.Duration `json:"reap_interval,omitempty"`
	// CheckInterval is how often the broker asks the providers whether
	// the resources of successful jobs still exist; a job whose resource
	// is gone at its provider becomes failed, with a reason saying so.
	// Every successful job is checked once when the broker starts. A
	// lease renewal checks too (a vanished resource is not renewed), and a
	// read of a job not checked for twice this long starts a check in the
	// background (the read does not wait). Providers that are deactivated
	// or unavailable are not asked. Default 5m.
	CheckInterval caddy.Duration `json:"check_interval,omitempty"`
	// AttemptTimeout bounds one provisioning attempt at one provider,
	// polling included; then the next candidate is tried. Default 2m.
	AttemptTimeout caddy.Duration `json:"attempt_timeout,omitempty"`
	// CallTimeout bounds update, remove and cleanup calls to a provider.
	// Default 1m.
	CallTimeout caddy.Duration `json:"call_timeout,omitempty"`
	// RespondWithin is how long a create, COPY or MOVE waits for
	// provisioning before answering with the job still pending (the
	// consumer then polls with GET). Default 5s.
	RespondWithin caddy.Duration `json:"respond_within,omitempty"`
	// PollInterval is how often a resource the provider is still building
	// is polled. Default 2s.
	PollInterval caddy.Duration `json:"poll_interval,omitempty"`
	// Retain is how long expired and removed jobs stay readable.
	// Default 24h.
	Retain caddy.Duration `json:"retain,omitempty"`
	// RetainFailed is how long a failed job (it holds no resources) stays
	// readable before its record is deleted. Default 1h.
	RetainFailed caddy.Duration `json:"retain_failed,omitempty"`
	// MaxJobsPerOwner bounds the job records one user holds: live jobs
	// and the failed, expired and removed ones still retained. A create
	// or COPY beyond it is answered with status 408 and a reason saying
	// the job limit is reached. Default 1000; -1 means no limit.
	MaxJobsPerOwner int `json:"max_jobs_per_owner,omitempty"`
	// MaxAttempts bounds the candidates tried for one job (substitution).
	// Default 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// CacheTTL bounds how long a job read from storage is served from the
	// in-memory cache; in a cluster it is how stale a read of a job that
	// another instance changed can be. Default 2s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// CacheSize bounds, in bytes, the in-memory cache of jobs read from
	// storage (each cached job counts its stored record, a few KB, plus
	// 256 bytes). The cache only speeds up repeated reads of settled jobs
	// within cache_ttl; storage holds every job. Default 4 MiB (about a
	// thousand jobs).
	CacheSize int64 `json:"cache_size,omitempty"`
	// Anonymous is what a request without an authenticated user
	// ({http.auth.user.id} empty) gets: "refuse" (default: HTTP 403) or
	// "allow" (all such requests act as the owner "anonymous"). A user
	// authenticated under the name "anonymous" is refused (HTTP 403) on
	// every front door, whatever this says (CheckUserName).
	Anonymous string `json:"anonymous,omitempty"`
	// UnhonouredFields is what a request gets that sets fields (such as
	// NetworkInterface/ip) that no matching provider's adapter honours:
	// "refuse" (default: status 420 naming the fields) or "ignore"
	// (placed where they are dropped; the answer names them in the
	// Csb-Ignored-Fields header and the reason). Providers whose adapter
	// honours every field are preferred either way.
	UnhonouredFields string `json:"unhonoured_fields,omitempty"`
	// Access holds per-user provider allow/deny lists applied during
	// placement, keyed by user id; the key "*" applies to users without
	// an entry of their own.
	Access map[string]*UserAccess `json:"access,omitempty"`
}

// UserAccess is one user's provider lists. A provider on Deny is never
// chosen; a non-empty Allow restricts placement to its providers.
type UserAccess struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

func (a *App) consumerConfig() *ConsumerConfig {
	if a.Consumer == nil {
		a.Consumer = new(ConsumerConfig)
	}
	return a.Consumer
}

// validate checks the consumer configuration without side effects.
func (c *ConsumerConfig) validate(providers []*Provider) error {
	// The providers' prices, which jobs cost (quota.go), with or without
	// a consumer block.
	if err := validatePrices(providers); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	// The engine's own checks and defaults (lease bounds, cache size,
	// the job cap), not restated here.
	if err := c.tunables().Validate(); err != nil {
		return err
	}
	if c.Anonymous != "" && c.Anonymous != AnonymousRefuse && c.Anonymous != AnonymousAllow {
		return fmt.Errorf("jobs: anonymous %q: want refuse or allow", c.Anonymous)
	}
	if c.UnhonouredFields != "" && c.UnhonouredFields != UnhonouredRefuse && c.UnhonouredFields != UnhonouredIgnore {
		return fmt.Errorf("jobs: unhonoured_fields %q: want refuse or ignore", c.UnhonouredFields)
	}
	known := map[string]bool{}
	for _, p := range providers {
		known[p.ID] = true
	}
	for user, ua := range c.Access {
		if ua == nil {
			continue
		}
		for _, id := range append(append([]string(nil), ua.Allow...), ua.Deny...) {
			if !known[id] {
				return fmt.Errorf("jobs: access %q: provider %q is not configured", user, id)
			}
		}
	}
	return nil
}

func (c *ConsumerConfig) tunables() jobs.Config {
	return jobs.Config{
		LeaseDefault:     time.Duration(c.LeaseDefault),
		LeaseMin:         time.Duration(c.LeaseMin),
		LeaseMax:         time.Duration(c.LeaseMax),
		ReapInterval:     time.Duration(c.ReapInterval),
		CheckInterval:    time.Duration(c.CheckInterval),
		AttemptTimeout:   time.Duration(c.AttemptTimeout),
		CallTimeout:      time.Duration(c.CallTimeout),
		RespondWithin:    time.Duration(c.RespondWithin),
		PollInterval:     time.Duration(c.PollInterval),
		Retain:           time.Duration(c.Retain),
		RetainFailed:     time.Duration(c.RetainFailed),
		MaxJobsPerOwner:  c.MaxJobsPerOwner,
		MaxAttempts:      c.MaxAttempts,
		CacheTTL:         time.Duration(c.CacheTTL),
		CacheSize:        c.CacheSize,
		IgnoreUnhonoured: c.UnhonouredFields == UnhonouredIgnore,
		// The job route (App.JobEndpoint, job_endpoints.go) caches job endpoints; every
		// write of a job invalidates its entry.
		OnChange: jobEndpointChanged,
	}
}

// access returns a user's provider lists.
func (c *ConsumerConfig) access(user string) *placement.Access {
	ua := c.Access[user]
	if ua == nil {
		ua = c.Access["*"]
	}
	if ua == nil {
		return nil
	}
	return &placement.Access{Allow: ua.Allow, Deny: ua.Deny}
}
