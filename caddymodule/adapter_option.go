package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Interim: the provider block's adapter subdirective, which the cimi
// helper's adapters.go owns. The consumer helper needed it for its live
// tests before that file landed; delete this file when merging it (a
// second registration of "adapter" panics at init, on purpose).
func init() {
	registerProviderOption("adapter", parseProviderAdapter)
}

// parseProviderAdapter parses "adapter <name> [<args>] [{ ... }]" into the
// provider's csb.adapters.<name> module.
func parseProviderAdapter(d *caddyfile.Dispenser, p *Provider) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if p.AdapterRaw != nil {
		return d.Errf("provider %q: adapter given twice", p.ID)
	}
	unm, err := caddyfile.UnmarshalModule(d, "csb.adapters."+name)
	if err != nil {
		return err
	}
	p.AdapterRaw = caddyconfig.JSONModuleObject(unm, "name", name, nil)
	return nil
}
