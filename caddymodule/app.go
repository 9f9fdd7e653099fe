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

	// XML configures how the broker reads the draft's XML messages: lenient
	// or strict mode, body size and parser limits. Default: lenient mode,
	// 1 MiB bodies. Caddyfile: xml [lenient|strict] { ... } (see XMLConfig).
	XML *XMLConfig `json:"xml,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger
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
	if a.XML == nil {
		a.XML = new(XMLConfig)
	}
	a.XML.provision(a.logger)
	if err := a.loadAdapters(ctx); err != nil {
		return err
	}
	return nil
}

// Validate checks the configuration without side effects.
func (a *App) Validate() error {
	if err := a.XML.Validate(); err != nil {
		return err
	}
	return nil
}

// Start starts the app's background work.
func (a *App) Start() error {
	return nil
}

// Stop stops the app's background work.
func (a *App) Stop() error {
	return nil
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
