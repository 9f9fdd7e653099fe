package caddymodule

// The Consumer interface's engine: the job manager, which lives on across
// reloads, and what each configuration load swaps in (policy, providers,
// adapters, tunables).

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/adapters/ovf"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

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
func (e *consumerEngine) adapter(id string, kind catalog.Kind) (contract.Adapter, bool) {
	v := e.current.Load()
	if v == nil {
		return nil, false
	}
	return v.app.meteredAdapterFor(id, string(kind))
}

// newConsumerEngine creates the job manager on the engine's store (once
// per process, in newEngine).
func newConsumerEngine(st store.Store, logger *zap.Logger, a *App, cat *catalog.Catalog) (*consumerEngine, error) {
	e := new(consumerEngine)
	c := a.consumerConfig().tunables()
	c.Store, c.Placer, c.Logger, c.Adapter = st, e, logger, e.adapter
	// A create's writes before its answer share group-committed log
	// files (broker/jobs wal.go).
	c.GroupCommit = true
	// A provider, or a job's service, the catalogue holds deactivated or
	// unavailable is not contacted (draft 4.1.2.3.1.1, 4.1.2.3.2;
	// broker/jobs contact.go).
	c.ProviderStatus = func(id string) (csbmsg.ServiceStatus, bool) {
		p, ok := cat.Provider(id)
		return p.Status, ok
	}
	c.ServiceStatus = func(provider, id string) (csbmsg.ServiceStatus, bool) {
		for _, s := range cat.Services(provider) {
			if s.Service.ID == id {
				return s.Service.Status, true
			}
		}
		return "", false
	}
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
	order := a.placementOrder(policy)
	tun := cfg.tunables()
	tun.OnReclaim = csbMetrics.observeReclaim
	// Quotas and cost units (quota.go); every write of a job also brings
	// caddy_csb_job_cost_total up to date (metrics_cost.go).
	tun.Quota, tun.CostUnits = a.Quota.policy(), a.Quota.costUnits()
	counted := tun.OnChange
	tun.OnChange = func(j *jobs.Job) {
		counted(j)
		csbMetrics.jobCost.observe(j)
	}
	tun.LeaseWarning = a.Events.leaseWarning() // events.go
	if exp := a.OVFExpander(); exp != nil {
		tun.Expand = func(ctx context.Context, req *csbmsg.ServiceRequest) error {
			return expandOVF(ctx, exp, req) // adapters_ovf.go, as explain does
		}
	}
	honoured := a.honouredFields()
	tun.Honoured = a.honouredSets(false) // updates: placement's sets, but for the OVF Link, read at create only
	eng := a.engine.consumer
	placer, err := placement.New(placement.Config{Catalog: a.engine.catalog, Policy: policy, Order: order, Load: eng.jobs.Load,
		Honoured: honoured, Prices: a.placementPrices(policy)})
	if err != nil {
		return err
	}
	a.consumerView = &consumerView{placer: placer, app: a, cfg: cfg, tunables: tun}
	return nil
}

// applyConsumer makes this config load's view current: its settings,
// placer and adapters.
func (a *App) applyConsumer() error {
	eng := a.engine.consumer
	if err := eng.jobs.SetTunables(a.consumerView.tunables); err != nil {
		return err
	}
	eng.current.Store(a.consumerView)
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
	return a.consumerView.placer.Place(req, placement.Options{Access: a.consumerView.cfg.access(user), DryRun: true,
		IgnoreUnhonoured: a.consumerView.cfg.UnhonouredFields == UnhonouredIgnore})
}

// stopConsumerWork is the engine destructor's part: stop the job manager.
func (e *consumerEngine) stop() {
	if e != nil && e.jobs != nil {
		e.jobs.Stop()
	}
}

// honouredFields returns placement's Config.Honoured: the request fields
// each provider's adapter for each service model declares it honours
// (contract.FieldReporter), read once per config load.
func (a *App) honouredFields() func(providerID string, kind catalog.Kind) contract.FieldSet {
	return a.honouredSets(a.OVFExpander() != nil)
}

// honouredSets returns the honoured fields per provider and service
// model; with ovf, an IaaS Link too, which the broker reads itself by
// expanding the OVF descriptor it names into a create before placement.
// Updates are not expanded: they are held to the sets without it
// (jobs.Config.Honoured), so an OVF Link in an update is refused rather
// than dropped.
func (a *App) honouredSets(ovf bool) func(providerID string, kind catalog.Kind) contract.FieldSet {
	type key struct {
		id   string
		kind catalog.Kind
	}
	sets := map[key]contract.FieldSet{}
	ovfLink := contract.Fields("IaaS/Link", "IaaS/Link/rel", "IaaS/Link/href")
	for _, p := range a.Providers {
		for _, k := range []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS} {
			if ad, ok := a.AdapterFor(p.ID, string(k)); ok {
				set := contract.HonouredBy(ad)
				if set != nil && k == catalog.KindIaaS && ovf {
					set = set.Union(ovfLink)
				}
				sets[key{p.ID, k}] = set
			}
		}
	}
	return func(id string, k catalog.Kind) contract.FieldSet { return sets[key{id, k}] }
}

// providerPrices returns the prices the providers' price option sets
// (placement.Config.Prices): they override the notification labels'.
func (a *App) providerPrices() map[string]float64 {
	out := map[string]float64{}
	for _, p := range a.Providers {
		if p.Price != nil {
			out[p.ID] = *p.Price
		}
	}
	return out
}

// ovfRefusal is the answer to a request whose OVF descriptor could not
// be expanded: the draft's 420 for a descriptor a CSB request cannot
// express (ovf.ErrUnsupported), as adapters/ovf's README says; fetch
// refusals and malformed descriptors stay the engine's 400.
func ovfRefusal(err error) error {
	if errors.Is(err, ovf.ErrUnsupported) {
		return &placement.RequestError{Status: csbmsg.StatusUnsupported, Reason: err.Error()}
	}
	return err
}
