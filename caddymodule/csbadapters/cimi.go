package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

func init() {
	caddy.RegisterModule(CIMIAdapter{})
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

	held[*cimi.Adapter]
}

// PeerOrigins returns the CloudEntryPoint URL: its origin is the
// provider's (PeerOriginsReporter).
func (m *CIMIAdapter) PeerOrigins() []string { return []string{m.Endpoint} }

// CaddyModule returns the Caddy module information.
func (CIMIAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[CIMIAdapter]("csb.adapters.cimi")
}

// Provision builds the adapter; it makes no network call.
func (m *CIMIAdapter) Provision(ctx caddy.Context) error {
	cfg := cimi.Config{Endpoint: m.Endpoint, Image: m.Image, NamePrefix: m.NamePrefix}
	cfparse.ExpandAll(&cfg.Endpoint, &cfg.Image)
	return m.hold(cimi.New(cfg))
}

// Interface guards.
var (
	_ caddy.Provisioner               = (*CIMIAdapter)(nil)
	_ caddyfile.Unmarshaler           = (*CIMIAdapter)(nil)
	_ contract.Holder                 = (*CIMIAdapter)(nil)
	_ caddymodule.HTTPClientSetter    = (*CIMIAdapter)(nil)
	_ caddymodule.PeerOriginsReporter = (*CIMIAdapter)(nil)
)
