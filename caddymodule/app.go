// Package caddymodule is the core of caddy-csb's Caddy glue: the csb app
// (providers, catalogue, subscriptions, jobs and background work), the
// http.handlers.csb handler that serves the draft's Publish and Consumer
// interfaces, the admin.api.csb module and the broker's metrics. The
// whole Caddyfile syntax of the csb global option and the csb directive
// is in caddyfile.go.
//
// Each independent module family has its own package, which imports this
// one for the App and the interfaces the app calls on its guests
// (HTTPClientSetter, PeerOriginsReporter, PeerHostsReporter,
// PeerURLCheckSetter, ProviderDefaulter); this package imports none of
// them:
//
//	caddymodule/csbadapters   csb.adapters.*: the real clouds' APIs
//	caddymodule/csbplacement  csb.placement.*: placement policies
//	caddymodule/digestauth    http_digest, digest_auth, caddy digest-hash
//	caddymodule/jobroute      csb_job_route and reverse_proxy's dynamic csb
//	caddymodule/csbsandbox    csb_sandbox, a fake cloud for trying things out
//	caddymodule/csbcimi       csb_cimi, the CIMI (DSP0263) front-end
//	caddymodule/csbosb        csb_osb, the Open Service Broker API front-end, and csb_binding_auth
//	caddymodule/csbconsole    csb_console, the web console
//	caddymodule/csbcli        caddy csb, the command-line client of the Consumer interface
//
// caddymodule/internal holds what they share (Caddyfile helpers, the
// metrics registry, test helpers) and internal/eventstest a test of job
// events through Caddy's events app.
//
// The repository's root package imports them all, so an xcaddy build gets
// every module. A new adapter module goes in csbadapters (its engine in
// adapters/), a new front-end's Caddy module in a package of its own
// (docs/architecture.md says how it reaches the engine: frontdoor.go).
// The engine itself lives in the Caddy-free packages under broker/ and
// adapters/.
package caddymodule

import (
	"fmt"
	"sync/atomic"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the csb app: it owns the broker's long-lived state and background
// work. It is configured in the Caddyfile with the csb global option:
//
//	{
//		csb {
//			...
//		}
//	}
type App struct {
	// Providers are the cloud service providers the broker fronts, in
	// configuration order (the order the "first" placement policy uses).
	Providers []*Provider `json:"providers,omitempty"`

	// Consumer configures the Consumer interface: placement policy, leases
	// and job handling (Caddyfile: the placement and jobs subdirectives).
	Consumer *ConsumerConfig `json:"consumer,omitempty"`

	// OVF configures the expansion of OVF-linked IaaS requests before
	// placement (adapters_ovf.go). Caddyfile: ovf { ... }. Default: not
	// expanded.
	OVF *OVFConfig `json:"ovf,omitempty"`

	// Catalog configures the provider catalogue's storage and cluster
	// sync. Caddyfile: catalog { ... } (catalog.go).
	Catalog *CatalogOptions `json:"catalog,omitempty"`

	// Subscriptions configures how subscriptions at providers are kept.
	// Caddyfile: subscriptions { ... } (subscriptions.go).
	Subscriptions *SubscriptionOptions `json:"subscriptions,omitempty"`

	// XML configures how the broker reads the draft's XML messages: lenient
	// or strict mode, body size and parser limits. Default: lenient mode,
	// 1 MiB bodies. Caddyfile: xml [lenient|strict] { ... } (see XMLConfig).
	XML *XMLConfig `json:"xml,omitempty"`

	// Quota sets what jobs cost and the limits per user and per group of
	// users (quota.go). Default: jobs cost core-hours (IaaS) or
	// job-hours at their provider's price; no limit besides jobs'
	// max_jobs_per_owner. Caddyfile: quota { ... }.
	Quota *QuotaConfig `json:"quota,omitempty"`
	// Events configures job events: Caddy events, webhooks and the
	// long-poll. Caddyfile: events { ... } (events.go). Default: events
	// emitted, no operator webhook, lease warnings 5m ahead, long-polls
	// of at most 60s.
	Events *EventsConfig `json:"events,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger

	// engine and events are set by Provision and never cleared: the
	// configuration's handlers read them at request time, and a reload
	// cleans the app up while its HTTP servers still finish the requests
	// they had taken, which go on with the engine (the same one, which
	// the new configuration took over). Cleanup lets go of the pools'
	// references instead (released, eventsReleased).
	engine         *engine                 // the long-lived broker state (state.go)
	live           *atomic.Pointer[engine] // engine until Cleanup, for the admin API and metrics (liveEngine)
	released       bool                    // Cleanup let go of engine (cleanupEngine)
	discovery      *discoveryLoops         // this configuration's discovery (catalog.go)
	consumerView   *consumerView           // this configuration's placer, adapters and consumer settings (jobs_engine.go)
	events         *eventsEngine           // job events, webhooks, long-poll waiters (events.go)
	eventsView     *eventsView             // this configuration's events settings (events.go)
	eventsReleased bool                    // Cleanup let go of events (cleanupEvents)
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[App]("csb")
}

// Provision sets up the app.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	if err := metricsreg.Register(ctx.GetMetricsRegistry(), append(csbMetrics.collectors(), newStateCollector(a))...); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	if a.XML == nil {
		a.XML = new(XMLConfig)
	}
	a.XML.provision(a.logger)
	admin := adminAddresses(ctx)
	if err := a.OVF.provision(admin); err != nil {
		return err
	}
	if err := a.loadAdapters(ctx); err != nil {
		return err
	}
	for _, p := range a.Providers {
		if err := p.ProvisionPeerPolicy(admin, a.logger); err != nil {
			return err
		}
		if err := p.provisionClient(ctx); err != nil {
			return err
		}
		p.handPeerPolicy()
	}
	if err := a.provisionEngine(ctx); err != nil {
		return err
	}
	if err := a.provisionConsumer(ctx); err != nil {
		return err
	}
	if err := a.provisionEvents(ctx); err != nil {
		return err
	}
	return nil
}

// Validate checks the configuration without side effects.
func (a *App) Validate() error {
	if err := a.XML.Validate(); err != nil {
		return err
	}
	if err := a.validatePublish(); err != nil {
		return err
	}
	if err := a.Consumer.validate(a.Providers); err != nil {
		return err
	}
	if err := a.Quota.validate(); err != nil {
		return err
	}
	if err := a.Events.validate(); err != nil {
		return err
	}
	return nil
}

// Start applies the configuration to the engine, which a reload's new
// configuration takes over from the running one here, and starts the
// background work: the engine's once, this configuration's discovery.
func (a *App) Start() error {
	// If Start fails, or another app of the configuration does, Caddy
	// keeps the running configuration: retire hands it the engine back.
	a.engine.takeOver(a)
	if err := a.applyConfig(); err != nil {
		return err
	}
	a.engine.start()
	a.engine.consumer.jobs.Start()
	if a.events != nil {
		a.events.disp.Start()
	}
	return a.startDiscovery(a.engine)
}

// Stop stops the app's background work.
func (a *App) Stop() error {
	a.retire()
	return nil
}

// Cleanup releases what Provision took.
func (a *App) Cleanup() error {
	a.retire() // an app whose Start failed is not stopped
	if err := a.cleanupEvents(); err != nil {
		a.logger.Warn("releasing the events engine", zap.Error(err))
	}
	return a.cleanupEngine()
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
