// Package caddymodule holds all the Caddy glue of caddy-csb: the csb app
// (providers, catalogue, subscriptions, jobs and background work), the
// http.handlers.csb handler that serves the draft's Publish and Consumer
// interfaces, the guest-module namespaces csb.adapters.* and
// csb.placement.*, and their Caddyfile syntax. The engine itself lives in
// the Caddy-free packages under broker/ and adapters/.
package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
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

	ctx    caddy.Context
	logger *zap.Logger

	state        *engineState
	consumer     *consumerEngine
	consumerView *consumerView
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "csb",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up the app.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	if err := a.OVF.provision(); err != nil {
		return err
	}
	st, err := loadEngineState(ctx)
	if err != nil {
		return err
	}
	a.state = st
	ids := make([]catalog.ProviderConfig, 0, len(a.Providers))
	for _, p := range a.Providers {
		ids = append(ids, catalog.ProviderConfig{ID: p.ID})
	}
	if err := st.Catalog.Configure(ids); err != nil {
		return err
	}
	return a.provisionConsumer(ctx, st)
}

// Cleanup releases the engine state; the last config using it stops its
// background work.
func (a *App) Cleanup() error {
	if a.state != nil {
		releaseEngineState()
		a.state = nil
	}
	return nil
}

// Validate checks the configuration without side effects.
func (a *App) Validate() error {
	return a.Consumer.validate(a.Providers)
}

// Start starts the app's background work.
func (a *App) Start() error {
	a.state.Catalog.Start()
	a.startConsumer()
	return nil
}

// Stop stops the app's background work.
func (a *App) Stop() error {
	return nil
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
