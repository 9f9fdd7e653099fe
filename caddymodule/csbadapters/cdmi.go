package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(CDMIAdapter{})
}

// CDMIAdapter is the csb.adapters.cdmi guest module: a provider's SNIA
// CDMI 1.1.1 API for DSaaS. See adapters/cdmi/README.md for the mapping.
type CDMIAdapter struct {
	// Endpoint is the CDMI root container URL. Required. Placeholders are
	// expanded.
	Endpoint string `json:"endpoint"`
	// Prefix prefixes job container and domain names. Default "csb-".
	Prefix string `json:"prefix,omitempty"`

	held[*cdmi.Adapter]
}

// PeerOrigins returns the root container URL: its origin is the
// provider's (PeerOriginsReporter).
func (m *CDMIAdapter) PeerOrigins() []string { return []string{m.Endpoint} }

// CaddyModule returns the Caddy module information.
func (CDMIAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[CDMIAdapter]("csb.adapters.cdmi")
}

// Provision builds the adapter; it makes no network call.
func (m *CDMIAdapter) Provision(ctx caddy.Context) error {
	cfg := cdmi.Config{Endpoint: m.Endpoint, Prefix: m.Prefix}
	cfparse.ExpandAll(&cfg.Endpoint)
	return m.hold(cdmi.New(cfg))
}

// Interface guards.
var (
	_ caddy.Provisioner            = (*CDMIAdapter)(nil)
	_ caddyfile.Unmarshaler        = (*CDMIAdapter)(nil)
	_ contract.Holder              = (*CDMIAdapter)(nil)
	_ caddymodule.HTTPClientSetter = (*CDMIAdapter)(nil)
)
