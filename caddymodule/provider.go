package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters"
)

func init() {
	registerAppOption("provider", parseProviderBlock)
}

// Provider is one cloud service provider the broker fronts. In the
// Caddyfile:
//
//	csb {
//		provider <id> {
//			<subdirective> ...
//		}
//	}
type Provider struct {
	// ID is the provider's Cloud-Service-Provider-id. Required.
	ID string `json:"id"`

	// AdapterRaw is the csb.adapters.* module that speaks the provider's
	// native API. Caddyfile: adapter <name> { ... }.
	AdapterRaw json.RawMessage `json:"adapter,omitempty" caddy:"namespace=csb.adapters inline_key=name"`

	// Price is the provider's advertised price per job, used by the
	// cheapest placement policy when no service price is known.
	// Caddyfile: price <number>.
	Price *float64 `json:"price,omitempty"`

	// Weight is the provider's weight for the weighted placement policy.
	// Default 1. Caddyfile: weight <n>.
	Weight int `json:"weight,omitempty"`

	// MoreAdaptersRaw are further csb.adapters.* modules, for a provider
	// whose native APIs differ by service model (CIMI for IaaS, CDMI for
	// DSaaS). Caddyfile: a second adapter subdirective.
	MoreAdaptersRaw []json.RawMessage `json:"more_adapters,omitempty" caddy:"namespace=csb.adapters inline_key=name"`

	adapters []adapters.Adapter // loaded by App.Provision, AdapterRaw first
}

// providerOption parses one subdirective inside a provider block.
type providerOption func(d *caddyfile.Dispenser, p *Provider) error

var providerOptions = map[string]providerOption{}

func registerProviderOption(name string, fn providerOption) {
	if _, dup := providerOptions[name]; dup {
		panic("csb: duplicate provider option " + name)
	}
	providerOptions[name] = fn
}

// parseProviderBlock parses "provider <id> { ... }".
func parseProviderBlock(d *caddyfile.Dispenser, a *App) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	p := &Provider{ID: d.Val()}
	if d.NextArg() {
		return d.ArgErr()
	}
	for _, existing := range a.Providers {
		if existing.ID == p.ID {
			return d.Errf("provider %q declared twice", p.ID)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		fn, ok := providerOptions[d.Val()]
		if !ok {
			return d.Errf("provider %q: unrecognized option %q (known: %v)", p.ID, d.Val(), optionNames(providerOptions))
		}
		if err := fn(d, p); err != nil {
			return err
		}
	}
	a.Providers = append(a.Providers, p)
	return nil
}
