package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"

	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/openstack"
	"github.com/caddy-csb/caddy-csb/broker/adapters"
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

	adapter *openstack.Adapter
}

// CaddyModule returns the Caddy module information.
func (OpenStackAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "csb.adapters.openstack",
		New: func() caddy.Module { return new(OpenStackAdapter) },
	}
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
	ad, err := openstack.New(cfg)
	if err != nil {
		return err
	}
	m.adapter = ad
	return nil
}

// CSBAdapter returns the provisioned adapter (adapters.Holder).
func (m *OpenStackAdapter) CSBAdapter() adapters.Adapter { return m.adapter }

// SetHTTPClient hands the adapter the provider's HTTP client.
func (m *OpenStackAdapter) SetHTTPClient(c *http.Client) { m.adapter.SetHTTPClient(c) }

// PeerOrigins returns the configured Keystone, TempAuth, compute and
// object-store URLs (PeerOriginsReporter). Endpoints the Keystone catalog
// names on other origins must be listed in the provider's allowed_hosts.
func (m *OpenStackAdapter) PeerOrigins() []string {
	return []string{m.AuthURL, m.TempAuthURL, m.ComputeURL, m.ObjectStoreURL}
}

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter openstack [<auth_url>] {
//		# Keystone v3
//		auth_url            <url>
//		region              <region>
//		interface           public|internal|admin
//		user_id             <id>
//		username            <name>
//		password            <password>
//		user_domain_id      <id>
//		user_domain_name    <name>
//		project_id          <id>
//		project_name        <name>
//		project_domain_id   <id>
//		project_domain_name <name>
//		application_credential_id     <id>
//		application_credential_name   <name>
//		application_credential_secret <secret>
//		# Swift TempAuth v1.0 (instead of Keystone)
//		tempauth_url  <url>
//		tempauth_user <account:user>
//		tempauth_key  <key>
//		# endpoint overrides
//		compute_url      <url>
//		object_store_url <url>
//		# Nova
//		image             <image-id>
//		arch_image        <architecture> <image-id>
//		network           <network-id>...
//		key_name          <keypair>
//		security_group    <name>...
//		availability_zone <zone>
//		# names the adapter chooses
//		name_prefix <prefix>
//	}
//
// arch_image, network and security_group may repeat.
func (m *OpenStackAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	c := &m.Config
	err := adapterBlock{
		name: "openstack",
		arg:  &c.AuthURL,
		single: map[string]*string{
			"auth_url": &c.AuthURL, "region": &c.Region, "interface": &c.Interface,
			"user_id": &c.UserID, "username": &c.Username, "password": &c.Password,
			"user_domain_id": &c.UserDomainID, "user_domain_name": &c.UserDomainName,
			"project_id": &c.ProjectID, "project_name": &c.ProjectName,
			"project_domain_id": &c.ProjectDomainID, "project_domain_name": &c.ProjectDomainName,
			"application_credential_id":     &c.ApplicationCredentialID,
			"application_credential_name":   &c.ApplicationCredentialName,
			"application_credential_secret": &c.ApplicationCredentialSecret,
			"tempauth_url":                  &c.TempAuthURL, "tempauth_user": &c.TempAuthUser, "tempauth_key": &c.TempAuthKey,
			"compute_url": &c.ComputeURL, "object_store_url": &c.ObjectStoreURL,
			"image": &c.Image, "key_name": &c.KeyName, "availability_zone": &c.AvailabilityZone,
			"name_prefix": &c.NamePrefix,
		},
		lists: map[string]*[]string{"network": &c.Networks, "security_group": &c.SecurityGroups},
		more: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			if opt == "arch_image" {
				return true, parseArchImage(d, "openstack", &c.ArchImages)
			}
			return false, nil
		},
	}.parse(d)
	if err != nil {
		return err
	}
	if c.AuthURL == "" && c.TempAuthURL == "" {
		return d.Err("adapter openstack: auth_url (Keystone v3) or tempauth_url (Swift TempAuth) is required")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner               = (*OpenStackAdapter)(nil)
	_ caddyfile.Unmarshaler           = (*OpenStackAdapter)(nil)
	_ adapters.Holder                 = (*OpenStackAdapter)(nil)
	_ caddymodule.HTTPClientSetter    = (*OpenStackAdapter)(nil)
	_ caddymodule.PeerOriginsReporter = (*OpenStackAdapter)(nil)
)
