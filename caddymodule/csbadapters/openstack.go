package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/openstack"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(OpenStackAdapter{})
}

// OpenStackAdapter is the csb.adapters.openstack guest module: an
// OpenStack cloud through Keystone v3 (or Swift TempAuth), Nova for IaaS
// and Swift for DSaaS. Its JSON fields are those of openstack.Config (see
// adapters/openstack/README.md for the mapping and the defaults). Every
// string field may hold placeholders such as {env.OS_PASSWORD}; they are
// expanded at provisioning, and secrets are never logged.
type OpenStackAdapter struct {
	openstack.Config

	held[*openstack.Adapter]
}

// CaddyModule returns the Caddy module information.
func (OpenStackAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[OpenStackAdapter]("csb.adapters.openstack")
}

// Provision expands placeholders and builds the adapter. It makes no
// network call: the adapter authenticates on first use.
func (m *OpenStackAdapter) Provision(caddy.Context) error {
	cfg := m.Config
	cfparse.ExpandAll(&cfg.AuthURL, &cfg.Region, &cfg.Interface, &cfg.UserID, &cfg.Username, &cfg.Password,
		&cfg.UserDomainID, &cfg.UserDomainName, &cfg.ProjectID, &cfg.ProjectName, &cfg.ProjectDomainID,
		&cfg.ProjectDomainName, &cfg.ApplicationCredentialID, &cfg.ApplicationCredentialName,
		&cfg.ApplicationCredentialSecret, &cfg.TempAuthURL, &cfg.TempAuthUser, &cfg.TempAuthKey,
		&cfg.ComputeURL, &cfg.ObjectStoreURL, &cfg.Image, &cfg.KeyName, &cfg.AvailabilityZone, &cfg.NamePrefix)
	// The lists and maps of ids too: a network or an image id differs by
	// cloud and project, and a placeholder left as text reached Nova.
	cfg.Networks = expandList(cfg.Networks)
	cfg.SecurityGroups = expandList(cfg.SecurityGroups)
	cfg.ArchImages = expandValues(cfg.ArchImages)
	return m.hold(openstack.New(cfg))
}

// PeerOrigins returns the configured Keystone, TempAuth, compute and
// object-store URLs (PeerOriginsReporter). Endpoints the Keystone catalog
// names on other origins must be listed in the provider's allowed_hosts.
func (m *OpenStackAdapter) PeerOrigins() []string {
	return []string{m.AuthURL, m.TempAuthURL, m.ComputeURL, m.ObjectStoreURL}
}

// Interface guards.
var (
	_ caddy.Provisioner               = (*OpenStackAdapter)(nil)
	_ caddyfile.Unmarshaler           = (*OpenStackAdapter)(nil)
	_ contract.Holder                 = (*OpenStackAdapter)(nil)
	_ caddymodule.HTTPClientSetter    = (*OpenStackAdapter)(nil)
	_ caddymodule.PeerOriginsReporter = (*OpenStackAdapter)(nil)
)
