package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
)

func init() {
	caddy.RegisterModule(CIMIAdapter{})
	caddy.RegisterModule(CDMIAdapter{})
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
// App.Provision.
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
		p.adapters, p.adapter = nil, nil
		for _, val := range mods {
			if s, ok := val.(HTTPClientSetter); ok && p.client != nil {
				s.SetHTTPClient(p.client)
			}
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
		if len(p.adapters) > 0 {
			p.adapter = p.adapters[0] // the discoverer (catalog.go) reads it
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

// AdapterFor returns the provider's adapter for a service model ("IaaS",
// "PaaS", "SaaS", "DSaaS"): the first that reports the kind through
// adapters.KindReporter, else the first that reports no kinds.
func (a *App) AdapterFor(providerID, kind string) (adapters.Adapter, bool) {
	for _, p := range a.Providers {
		if p.ID != providerID {
			continue
		}
		var fallback adapters.Adapter
		for _, ad := range p.adapters {
			kr, ok := ad.(adapters.KindReporter)
			if !ok {
				if fallback == nil {
					fallback = ad
				}
				continue
			}
			for _, k := range kr.ServiceKinds() {
				if k == kind {
					return ad, true
				}
			}
		}
		return fallback, fallback != nil
	}
	return nil, false
}

// CIMIAdapter is the csb.adapters.cimi guest module: a provider's DMTF
// CIMI API (DSP0263, JSON binding). See adapters/cimi/README.md for the
// mapping.
type CIMIAdapter struct {
	// Endpoint is the URL of the CloudEntryPoint. Required. Placeholders
	// such as {env.CLOUD_URL} are expanded.
	Endpoint string `json:"endpoint"`
	// Image is the MachineImage new machines boot, by name or href.
	// Default: the first image of the provider's machineImages.
	Image string `json:"image,omitempty"`
	// NamePrefix prefixes the names of created resources. Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`

	adapter *cimi.Adapter
}

// CSBAdapter returns the provisioned adapter (adapters.Holder).
func (m *CIMIAdapter) CSBAdapter() adapters.Adapter { return m.adapter }

// SetHTTPClient hands the adapter the provider's HTTP client.
func (m *CIMIAdapter) SetHTTPClient(c *http.Client) { m.adapter.SetHTTPClient(c) }

// CaddyModule returns the Caddy module information.
func (CIMIAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "csb.adapters.cimi",
		New: func() caddy.Module { return new(CIMIAdapter) },
	}
}

// Provision builds the adapter; it makes no network call.
func (m *CIMIAdapter) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	ad, err := cimi.New(cimi.Config{
		Endpoint:   repl.ReplaceAll(m.Endpoint, ""),
		Image:      repl.ReplaceAll(m.Image, ""),
		NamePrefix: m.NamePrefix,
	})
	if err != nil {
		return err
	}
	m.adapter = ad
	return nil
}

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter cimi [<endpoint>] {
//		endpoint    <url>
//		image       <name|href>
//		name_prefix <prefix>
//	}
func (m *CIMIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // adapter name
	if d.NextArg() {
		m.Endpoint = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "endpoint":
			dst = &m.Endpoint
		case "image":
			dst = &m.Image
		case "name_prefix":
			dst = &m.NamePrefix
		default:
			return d.Errf("adapter cimi: unrecognized option %q", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if m.Endpoint == "" {
		return d.Err("adapter cimi: endpoint is required")
	}
	return nil
}

// CDMIAdapter is the csb.adapters.cdmi guest module: a provider's SNIA
// CDMI 1.1.1 API for DSaaS. See adapters/cdmi/README.md for the mapping.
type CDMIAdapter struct {
	// Endpoint is the CDMI root container URL. Required. Placeholders are
	// expanded.
	Endpoint string `json:"endpoint"`
	// Prefix prefixes job container and domain names. Default "csb-".
	Prefix string `json:"prefix,omitempty"`

	adapter *cdmi.Adapter
}

// CSBAdapter returns the provisioned adapter (adapters.Holder).
func (m *CDMIAdapter) CSBAdapter() adapters.Adapter { return m.adapter }

// SetHTTPClient hands the adapter the provider's HTTP client.
func (m *CDMIAdapter) SetHTTPClient(c *http.Client) { m.adapter.SetHTTPClient(c) }

// CaddyModule returns the Caddy module information.
func (CDMIAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "csb.adapters.cdmi",
		New: func() caddy.Module { return new(CDMIAdapter) },
	}
}

// Provision builds the adapter; it makes no network call.
func (m *CDMIAdapter) Provision(ctx caddy.Context) error {
	ad, err := cdmi.New(cdmi.Config{Endpoint: caddy.NewReplacer().ReplaceAll(m.Endpoint, ""), Prefix: m.Prefix})
	if err != nil {
		return err
	}
	m.adapter = ad
	return nil
}

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter cdmi [<endpoint>] {
//		endpoint <url>
//		prefix   <prefix>
//	}
func (m *CDMIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // adapter name
	if d.NextArg() {
		m.Endpoint = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "endpoint":
			dst = &m.Endpoint
		case "prefix":
			dst = &m.Prefix
		default:
			return d.Errf("adapter cdmi: unrecognized option %q", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if m.Endpoint == "" {
		return d.Err("adapter cdmi: endpoint is required")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*CIMIAdapter)(nil)
	_ caddyfile.Unmarshaler = (*CIMIAdapter)(nil)
	_ adapters.Holder       = (*CIMIAdapter)(nil)
	_ HTTPClientSetter      = (*CIMIAdapter)(nil)
	_ caddy.Provisioner     = (*CDMIAdapter)(nil)
	_ caddyfile.Unmarshaler = (*CDMIAdapter)(nil)
	_ adapters.Holder       = (*CDMIAdapter)(nil)
	_ HTTPClientSetter      = (*CDMIAdapter)(nil)
)
