package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// HTTPClientSetter is implemented by adapter modules that make HTTP calls:
// the app hands them the provider's client (TLS trust, authentication)
// after provisioning.
type HTTPClientSetter interface {
	SetHTTPClient(*http.Client)
}

// loadAdapters loads each provider's adapter modules. It is called by
// App.Provision, which then builds each provider's peer URL policy from
// them and hands them the provider's client (handPeerPolicy).
func (a *App) loadAdapters(ctx caddy.Context) error {
	for _, p := range a.Providers {
		var mods []any
		if len(p.AdapterRaw) > 0 {
			val, err := ctx.LoadModule(p, "AdapterRaw")
			if err != nil {
				return fmt.Errorf("provider %q: loading adapter: %v", p.ID, err)
			}
			mods = append(mods, val)
		}
		if len(p.MoreAdaptersRaw) > 0 {
			vals, err := ctx.LoadModule(p, "MoreAdaptersRaw")
			if err != nil {
				return fmt.Errorf("provider %q: loading adapters: %v", p.ID, err)
			}
			mods = append(mods, vals.([]any)...)
		}
		p.adapters, p.adapter, p.modules = nil, nil, mods
		for _, val := range mods {
			switch m := val.(type) {
			case contract.Holder:
				p.adapters = append(p.adapters, m.CSBAdapter())
			case interface{ Adapter() contract.Adapter }: // the occi and link modules
				p.adapters = append(p.adapters, m.Adapter())
			case contract.Adapter:
				p.adapters = append(p.adapters, m)
			default:
				return fmt.Errorf("provider %q: module %T is neither an contract.Adapter nor an contract.Holder", p.ID, val)
			}
		}
		// The broker's own calls (jobs, discovery) go through a wrapper
		// that times them and counts failures (metrics_adapters.go), so the
		// adapters stay Caddy-free; Adapter and AdapterFor hand out the
		// adapters themselves.
		p.metered = make([]contract.Adapter, len(p.adapters))
		for i, ad := range p.adapters {
			p.metered[i] = instrumentAdapter(p.ID, ad)
		}
		if len(p.metered) > 0 {
			p.adapter = p.metered[0] // the discoverer (catalog.go) reads it
		}
	}
	return nil
}

// Adapter returns the primary adapter (the first one configured) of the
// provider with the given id.
func (a *App) Adapter(providerID string) (contract.Adapter, bool) {
	for _, p := range a.Providers {
		if p.ID == providerID && len(p.adapters) > 0 {
			return p.adapters[0], true
		}
	}
	return nil, false
}

// meteredAdapterFor is AdapterFor with the adapter's calls timed and
// counted: what the job manager calls.
func (a *App) meteredAdapterFor(providerID, kind string) (contract.Adapter, bool) {
	p, i := a.adapterIndex(providerID, kind)
	if p == nil {
		return nil, false
	}
	if i < len(p.metered) {
		return p.metered[i], true
	}
	return p.adapters[i], true
}

// AdapterFor returns the provider's adapter for a service model ("IaaS",
// "PaaS", "SaaS", "DSaaS"): the first that reports the kind through
// contract.KindReporter, else the first that reports no kinds.
func (a *App) AdapterFor(providerID, kind string) (contract.Adapter, bool) {
	p, i := a.adapterIndex(providerID, kind)
	if p == nil {
		return nil, false
	}
	return p.adapters[i], true
}

// adapterIndex finds AdapterFor's adapter: its provider and its index in
// the provider's adapters (nil when there is none).
func (a *App) adapterIndex(providerID, kind string) (*Provider, int) {
	for _, p := range a.Providers {
		if p.ID != providerID {
			continue
		}
		fallback := -1
		for i, ad := range p.adapters {
			kr, ok := ad.(contract.KindReporter)
			if !ok {
				if fallback < 0 {
					fallback = i
				}
				continue
			}
			for _, k := range kr.ServiceKinds() {
				if k == kind {
					return p, i
				}
			}
		}
		if fallback < 0 {
			return nil, 0
		}
		return p, fallback
	}
	return nil, 0
}
