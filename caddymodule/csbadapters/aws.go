package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/aws"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(AWSAdapter{})
}

// AWSAdapter is the csb.adapters.aws guest module: EC2 for IaaS and S3
// for DSaaS through the AWS SDK for Go v2 (also S3-compatible services).
// Its JSON fields are those of aws.Config (see adapters/aws/README.md for
// the mapping and the defaults). String fields may hold placeholders such
// as {env.AWS_SECRET_ACCESS_KEY}; without access_key_id the SDK's default
// credential chain is used. Secrets are never logged.
type AWSAdapter struct {
	aws.Config

	held[*aws.Adapter]
}

// CaddyModule returns the Caddy module information.
func (AWSAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[AWSAdapter]("csb.adapters.aws")
}

// Provision expands placeholders and builds the adapter. It makes no
// network call and reads no credential files yet.
func (m *AWSAdapter) Provision(caddy.Context) error {
	cfg := m.Config
	cfparse.ExpandAll(&cfg.Region, &cfg.S3Endpoint, &cfg.EC2Endpoint, &cfg.AccessKeyID, &cfg.SecretAccessKey, &cfg.SessionToken,
		&cfg.ImageID, &cfg.SubnetID, &cfg.KeyName, &cfg.RootDevice, &cfg.NamePrefix)
	// The lists and maps of ids too: an AMI or a security group differs
	// by account and region, so it comes from the environment as often
	// as the subnet does, and a placeholder left as text reached EC2.
	cfg.SecurityGroupIDs = expandList(cfg.SecurityGroupIDs)
	cfg.ArchImages = expandValues(cfg.ArchImages)
	return m.hold(aws.New(cfg))
}

// PeerOrigins returns the configured S3 and EC2 endpoints and, when the
// SDK's default credential chain is used (no access_key_id), the instance
// and container metadata services it reads credentials from
// (PeerOriginsReporter).
func (m *AWSAdapter) PeerOrigins() []string {
	out := []string{m.S3Endpoint, m.EC2Endpoint}
	if m.AccessKeyID == "" {
		out = append(out, "http://169.254.169.254", "http://[fd00:ec2::254]", "http://169.254.170.2")
	}
	return out
}

// PeerHosts returns *.amazonaws.com when an endpoint is left to the SDK's
// default (AWS's regional endpoints, public addresses only)
// (PeerHostsReporter).
func (m *AWSAdapter) PeerHosts() []string {
	if m.S3Endpoint == "" || m.EC2Endpoint == "" {
		return []string{"*.amazonaws.com"}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner               = (*AWSAdapter)(nil)
	_ caddyfile.Unmarshaler           = (*AWSAdapter)(nil)
	_ contract.Holder                 = (*AWSAdapter)(nil)
	_ caddymodule.HTTPClientSetter    = (*AWSAdapter)(nil)
	_ caddymodule.PeerOriginsReporter = (*AWSAdapter)(nil)
	_ caddymodule.PeerHostsReporter   = (*AWSAdapter)(nil)
)
