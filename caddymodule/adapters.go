package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
)

func init() {
	registerProviderOption("adapter", parseProviderAdapter)
}

// HTTPClientSetter is implemented by adapter modules that make HTTP calls:
// the app hands them the provider's client (TLS trust, authentication)
// after provisioning.
type HTTPClientSetter interface {
	SetHTTPClient(*http.Client)
}

// parseProviderAdapter parses the provider subdirective
//
//	adapter <name> [<args...>] {
//		...
//	}
//
// It loads the guest module csb.adapters.<name> and lets it parse the rest
// of the segment, so every adapter documents its own syntax in its
// UnmarshalCaddyfile. A provider may name one adapter per service model
// (adapter cimi ... and adapter cdmi ...); the first is its primary one.
func parseProviderAdapter(d *caddyfile.Dispenser, p *Provider) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	info, err := caddy.GetModule("csb.adapters." + name)
	if err != nil {
		return d.Errf("provider %q: unknown adapter %q: %v", p.ID, name, err)
	}
	unm, ok := info.New().(caddyfile.Unmarshaler)
	if !ok {
		return d.Errf("provider %q: adapter %q has no Caddyfile syntax", p.ID, name)
	}
	if err := unm.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
		return err
	}
	raw := caddyconfig.JSONModuleObject(unm, "name", name, nil)
	if len(p.AdapterRaw) == 0 {
		p.AdapterRaw = raw
	} else {
		p.MoreAdaptersRaw = append(p.MoreAdaptersRaw, raw)
	}
	return nil
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
			case adapters.Holder:
				p.adapters = append(p.adapters, m.CSBAdapter())
			case interface{ Adapter() adapters.Adapter }: // the occi and link modules
				p.adapters = append(p.adapters, m.Adapter())
			case adapters.Adapter:
				p.adapters = append(p.adapters, m)
			default:
				return fmt.Errorf("provider %q: module %T is neither an adapters.Adapter nor an adapters.Holder", p.ID, val)
			}
		}
		// The broker's own calls (jobs, discovery) go through a wrapper
		// that times them and counts failures (metrics.go), so the
		// adapters stay Caddy-free; Adapter and AdapterFor hand out the
		// adapters themselves.
		p.metered = make([]adapters.Adapter, len(p.adapters))
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
func (a *App) Adapter(providerID string) (adapters.Adapter, bool) {
	for _, p := range a.Providers {
		if p.ID == providerID && len(p.adapters) > 0 {
			return p.adapters[0], true
		}
	}
	return nil, false
}

// meteredAdapterFor is AdapterFor with the adapter's calls timed and
// counted: what the job manager calls.
func (a *App) meteredAdapterFor(providerID, kind string) (adapters.Adapter, bool) {
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
// adapters.KindReporter, else the first that reports no kinds.
func (a *App) AdapterFor(providerID, kind string) (adapters.Adapter, bool) {
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
			kr, ok := ad.(adapters.KindReporter)
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

// adapterBlock is the Caddyfile syntax the adapter modules share:
//
//	adapter <name> [<arg>] {
//		<single> <value>
//		<list>   <value>...
//		<flag>
//		...
//	}
//
// Options not in single, lists or flags go to more, which reports whether
// it knew the option.
type adapterBlock struct {
	name   string  // the adapter's name, for errors ("adapter cimi: ...")
	arg    *string // where the optional argument goes; nil: no argument
	single map[string]*string
	lists  map[string]*[]string
	flags  map[string]*bool
	more   func(d *caddyfile.Dispenser, opt string) (bool, error)
}

// parse parses the adapter subdirective's segment, from the adapter name.
func (b adapterBlock) parse(d *caddyfile.Dispenser) error {
	d.Next() // adapter name
	if d.NextArg() {
		if b.arg == nil {
			return d.ArgErr()
		}
		*b.arg = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case b.single[opt] != nil:
			if err := oneArg(d, b.single[opt]); err != nil {
				return err
			}
		case b.lists[opt] != nil:
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			*b.lists[opt] = append(*b.lists[opt], args...)
		case b.flags[opt] != nil:
			if d.NextArg() {
				return d.ArgErr()
			}
			*b.flags[opt] = true
		default:
			known := false
			if b.more != nil {
				var err error
				if known, err = b.more(d, opt); err != nil {
					return err
				}
			}
			if !known {
				return d.Errf("adapter %s: unrecognized option %q", b.name, opt)
			}
		}
	}
	return nil
}

// parseArchImage parses "arch_image <architecture> <image>" into images;
// an architecture may be given once.
func parseArchImage(d *caddyfile.Dispenser, adapter string, images *map[string]string) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	if *images == nil {
		*images = map[string]string{}
	}
	if _, dup := (*images)[args[0]]; dup {
		return d.Errf("adapter %s: arch_image %q given twice", adapter, args[0])
	}
	(*images)[args[0]] = args[1]
	return nil
}

// argValue reads exactly one argument of the current option.
func argValue(d *caddyfile.Dispenser) (string, error) {
	var v string
	err := oneArg(d, &v)
	return v, err
}

// expandAll expands the placeholders ({env.*}, ...) in each field.
func expandAll(fields ...*string) {
	repl := caddy.NewReplacer()
	for _, f := range fields {
		*f = repl.ReplaceAll(*f, "")
	}
}
