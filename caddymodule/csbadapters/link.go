package csbadapters

import (
	"net/url"

	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/link"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(LinkAdapter{})
}

// LinkAdapter is the csb.adapters.link module, for PaaS and SaaS
// providers: the draft defines only a Link for those services, so
// provisioning hands the consumer the matched service's Link href (or
// Cloud-Service-URI) as the job's Cloud-service-URI, and the job-aware
// proxy can front it. Status, update and remove are bookkeeping: there is
// no native API to call. The href must pass the provider's peer URL
// policy (its configured origins, allowed_hosts and allow_private): a
// publisher cannot make the broker hand out, or proxy to, another host.
type LinkAdapter struct {
	// Schemes are the URI schemes a service's href may have. Default
	// http and https. The provider's peer URL policy allows only http and
	// https, so this can narrow the choice (to https, say) but not widen
	// it.
	Schemes []string `json:"schemes,omitempty"`

	adapter *link.Adapter
}

// CaddyModule returns the Caddy module information.
func (LinkAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[LinkAdapter]("csb.adapters.link")
}

// Provision builds the adapter.
func (l *LinkAdapter) Provision(caddy.Context) error {
	l.adapter = &link.Adapter{Schemes: l.Schemes}
	return nil
}

// Adapter returns the adapter Provision built.
func (l *LinkAdapter) Adapter() contract.Adapter { return l.adapter }

// SetPeerURLCheck hands the adapter the provider's peer URL check: a
// service's href or Cloud-Service-URI that the check refuses is not
// granted, and the job fails with a reason naming it
// (PeerURLCheckSetter).
func (l *LinkAdapter) SetPeerURLCheck(check func(*url.URL) error) { l.adapter.CheckURL = check }

// Interface guards.
var (
	_ caddy.Provisioner                       = (*LinkAdapter)(nil)
	_ caddyfile.Unmarshaler                   = (*LinkAdapter)(nil)
	_ interface{ Adapter() contract.Adapter } = (*LinkAdapter)(nil)
	_ caddymodule.PeerURLCheckSetter          = (*LinkAdapter)(nil)
)
