package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Anonymous-consumer behaviours (ConsumerConfig.Anonymous).
const (
	// AnonymousRefuse answers a request without an authenticated user
	// with HTTP 403: the Consumer interface needs an authentication
	// handler (basic_auth, digest_auth) in front of csb.
	AnonymousRefuse = "refuse"
	// AnonymousAllow lets requests without an authenticated user act as
	// the single owner "anonymous": they all share the same jobs, and a
	// job id is then the only thing that protects a job.
	AnonymousAllow = "allow"
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
	// "allow" (all such requests act as the owner "anonymous").
	Anonymous string `json:"anonymous,omitempty"`
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
	if c == nil {
		return nil
	}
	min, max := time.Duration(c.LeaseMin), time.Duration(c.LeaseMax)
	if min == 0 {
		min = 5 * time.Minute
	}
	if max == 0 {
		max = 720 * time.Hour
	}
	if min > max {
		return fmt.Errorf("jobs: lease_min %s exceeds lease_max %s", min, max)
	}
	if def := time.Duration(c.LeaseDefault); def != 0 && (def < min || def > max) {
		return fmt.Errorf("jobs: lease_default %s is outside [%s, %s]", def, min, max)
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("jobs: cache_size %d: must be positive", c.CacheSize)
	}
	if c.MaxJobsPerOwner < -1 {
		return fmt.Errorf("jobs: max_jobs_per_owner %d: want a positive number, or -1 for no limit", c.MaxJobsPerOwner)
	}
	if c.Anonymous != "" && c.Anonymous != AnonymousRefuse && c.Anonymous != AnonymousAllow {
		return fmt.Errorf("jobs: anonymous %q: want refuse or allow", c.Anonymous)
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
		LeaseDefault:    time.Duration(c.LeaseDefault),
		LeaseMin:        time.Duration(c.LeaseMin),
		LeaseMax:        time.Duration(c.LeaseMax),
		ReapInterval:    time.Duration(c.ReapInterval),
		AttemptTimeout:  time.Duration(c.AttemptTimeout),
		CallTimeout:     time.Duration(c.CallTimeout),
		RespondWithin:   time.Duration(c.RespondWithin),
		PollInterval:    time.Duration(c.PollInterval),
		Retain:          time.Duration(c.Retain),
		RetainFailed:    time.Duration(c.RetainFailed),
		MaxJobsPerOwner: c.MaxJobsPerOwner,
		MaxAttempts:     c.MaxAttempts,
		CacheTTL:        time.Duration(c.CacheTTL),
		CacheSize:       c.CacheSize,
		// The transparent proxy (proxy.go) caches job endpoints; every
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

// ---------------------------------------------------------------------------
// The engine

// consumerEngine is the long-lived part of the Consumer interface: the
// job manager, which survives config reloads in the engine state. What a
// config load changes (policy, providers, adapters, tunables) is swapped
// in atomically.
type consumerEngine struct {
	jobs    *jobs.Manager
	current atomic.Pointer[consumerView]
}

// consumerView is what one config load contributes.
type consumerView struct {
	placer   *placement.Placer
	app      *App // its providers' adapters (adapters.go)
	cfg      *ConsumerConfig
	tunables jobs.Config
}

// Place implements jobs.Placer with the current config's placer.
func (e *consumerEngine) Place(req *csbmsg.ServiceRequest, opt placement.Options) (*placement.Decision, error) {
	v := e.current.Load()
	if v == nil {
		return nil, errors.New("consumer interface not configured")
	}
	start := time.Now()
	d, err := v.placer.Place(req, opt)
	csbMetrics.observePlacement(start, req, d, err)
	return d, err
}

// adapter returns the current config's adapter of a provider for a
// service model.
func (e *consumerEngine) adapter(id string, kind catalog.Kind) (adapters.Adapter, bool) {
	v := e.current.Load()
	if v == nil {
		return nil, false
	}
	return v.app.meteredAdapterFor(id, string(kind))
}

// newConsumerEngine creates the job manager on the engine's store (once
// per process, in newEngine).
func newConsumerEngine(st store.Store, logger *zap.Logger, a *App) (*consumerEngine, error) {
	e := new(consumerEngine)
	c := a.consumerConfig().tunables()
	c.Store, c.Placer, c.Logger, c.Adapter = st, e, logger, e.adapter
	m, err := jobs.New(c)
	if err != nil {
		return nil, err
	}
	e.jobs = m
	return e, nil
}

// provisionConsumer sets up the Consumer interface for this config load:
// it loads the placement policy and the providers' adapters and builds a
// placer over the catalogue. Start makes them current.
func (a *App) provisionConsumer(ctx caddy.Context) error {
	cfg := a.consumerConfig()
	var policy placement.Policy = placement.First{}
	if cfg.PlacementRaw != nil {
		mod, err := ctx.LoadModule(cfg, "PlacementRaw")
		if err != nil {
			return fmt.Errorf("loading placement policy: %v", err)
		}
		p, ok := mod.(placement.Policy)
		if !ok {
			return fmt.Errorf("placement policy %T is not a placement.Policy", mod)
		}
		policy = p
	}
	if pd, ok := policy.(ProviderDefaulter); ok {
		pd.ProviderDefaults(a.Providers)
	}
	order := make([]string, len(a.Providers))
	for i, p := range a.Providers {
		order[i] = p.ID
	}
	tun := cfg.tunables()
	// Every write of a job also updates the jobs-by-state gauge
	// (metrics.go), after whatever tunables() already hooks there.
	changed, count := tun.OnChange, a.engine.jobCount.observe
	tun.OnChange = func(j *jobs.Job) {
		if changed != nil {
			changed(j)
		}
		count(j)
	}
	tun.OnReclaim = csbMetrics.observeReclaim
	if exp := a.OVFExpander(); exp != nil {
		tun.Expand = func(ctx context.Context, req *csbmsg.ServiceRequest) error {
			out, err := exp.Expand(ctx, *req)
			if err != nil {
				return err
			}
			*req = out
			return nil
		}
	}
	eng := a.engine.consumer
	placer, err := placement.New(placement.Config{Catalog: a.engine.catalog, Policy: policy, Order: order, Load: eng.jobs.Load})
	if err != nil {
		return err
	}
	a.consumerView = &consumerView{placer: placer, app: a, cfg: cfg, tunables: tun}
	return nil
}

// startConsumer makes this config load's view current and starts the job
// manager's background work (once per engine).
func (a *App) startConsumer() error {
	eng := a.engine.consumer
	if err := eng.jobs.SetTunables(a.consumerView.tunables); err != nil {
		return err
	}
	eng.current.Store(a.consumerView)
	eng.jobs.Start()
	return nil
}

// consumer returns the engine's consumer part (nil before Provision).
func (a *App) consumer() *consumerEngine {
	if a.engine == nil {
		return nil
	}
	return a.engine.consumer
}

// JobManager returns the job manager of the running csb app, for the
// transparent proxy (JobEndpoint) and the admin API. It is nil when the
// app is not provisioned.
func (a *App) JobManager() *jobs.Manager {
	if c := a.consumer(); c != nil {
		return c.jobs
	}
	return nil
}

// ExplainPlacement dry-runs a request for user: every candidate with its
// score or reason for rejection, without creating anything (for the admin
// API's explain endpoint).
func (a *App) ExplainPlacement(user string, req *csbmsg.ServiceRequest) (*placement.Decision, error) {
	if a.consumerView == nil {
		return nil, errors.New("consumer interface not configured")
	}
	return a.consumerView.placer.Place(req, placement.Options{Access: a.consumerView.cfg.access(user), DryRun: true})
}

// stopConsumerWork is the engine destructor's part: stop the job manager.
func (e *consumerEngine) stop() {
	if e != nil && e.jobs != nil {
		e.jobs.Stop()
	}
}
