package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"

	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/aws"
	"github.com/caddy-csb/caddy-csb/broker/adapters"
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

	adapter *aws.Adapter
}

// CaddyModule returns the Caddy module information.
func (AWSAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "csb.adapters.aws",
		New: func() caddy.Module { return new(AWSAdapter) },
	}
}

// Provision expands placeholders and builds the adapter. It makes no
// network call and reads no credential files yet.
func (m *AWSAdapter) Provision(caddy.Context) error {
	cfg := m.Config
	cfparse.ExpandAll(&cfg.Region, &cfg.S3Endpoint, &cfg.EC2Endpoint, &cfg.AccessKeyID, &cfg.SecretAccessKey, &cfg.SessionToken,
		&cfg.ImageID, &cfg.SubnetID, &cfg.KeyName, &cfg.RootDevice, &cfg.NamePrefix)
	ad, err := aws.New(cfg)
	if err != nil {
		return err
	}
	m.adapter = ad
	return nil
}

// CSBAdapter returns the provisioned adapter (adapters.Holder).
func (m *AWSAdapter) CSBAdapter() adapters.Adapter { return m.adapter }

// SetHTTPClient hands the adapter the provider's HTTP client.
func (m *AWSAdapter) SetHTTPClient(c *http.Client) { m.adapter.SetHTTPClient(c) }

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

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter aws [<region>] {
//		region            <region>
//		services          ec2|s3...
//		s3_endpoint       <url>
//		ec2_endpoint      <url>
//		path_style
//		access_key_id     <id>
//		secret_access_key <secret>
//		session_token     <token>
//		image_id          <ami>
//		arch_image        <architecture> <ami>
//		instance_type     <name> <vcpus> <memory-MiB> [<architecture>]
//		subnet_id         <subnet>
//		security_group_id <sg>...
//		key_name          <keypair>
//		root_device       <device>
//		name_prefix       <prefix>
//	}
//
// arch_image, instance_type and security_group_id may repeat; the
// instance_type lines replace the built-in table.
func (m *AWSAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	c := &m.Config
	err := adapterBlock{
		name: "aws",
		arg:  &c.Region,
		single: map[string]*string{
			"region": &c.Region, "s3_endpoint": &c.S3Endpoint, "ec2_endpoint": &c.EC2Endpoint,
			"access_key_id": &c.AccessKeyID, "secret_access_key": &c.SecretAccessKey, "session_token": &c.SessionToken,
			"image_id": &c.ImageID, "subnet_id": &c.SubnetID, "key_name": &c.KeyName,
			"root_device": &c.RootDevice, "name_prefix": &c.NamePrefix,
		},
		lists: map[string]*[]string{"security_group_id": &c.SecurityGroupIDs, "services": &c.Services},
		flags: map[string]*bool{"path_style": &c.PathStyle},
		more: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			switch opt {
			case "arch_image":
				return true, parseArchImage(d, "aws", &c.ArchImages)
			case "instance_type":
				return true, parseInstanceType(d, c)
			}
			return false, nil
		},
	}.parse(d)
	if err != nil {
		return err
	}
	for _, s := range c.Services {
		if s != "ec2" && s != "s3" {
			return d.Errf("adapter aws: service %q: want ec2 or s3", s)
		}
	}
	return nil
}

// parseInstanceType parses "instance_type <name> <vcpus> <memory-MiB>
// [<architecture>]" into a row of the instance-type table.
func parseInstanceType(d *caddyfile.Dispenser, c *aws.Config) error {
	args := d.RemainingArgs()
	if len(args) != 3 && len(args) != 4 {
		return d.ArgErr()
	}
	vcpus, err1 := strconv.Atoi(args[1])
	mem, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || vcpus <= 0 || mem <= 0 {
		return d.Errf("adapter aws: instance_type %s: vcpus and memory (MiB) must be positive integers", args[0])
	}
	it := aws.InstanceType{Name: args[0], VCPUs: vcpus, MemoryMiB: mem}
	if len(args) == 4 {
		it.Architecture = args[3]
	}
	c.InstanceTypes = append(c.InstanceTypes, it)
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner               = (*AWSAdapter)(nil)
	_ caddyfile.Unmarshaler           = (*AWSAdapter)(nil)
	_ adapters.Holder                 = (*AWSAdapter)(nil)
	_ caddymodule.HTTPClientSetter    = (*AWSAdapter)(nil)
	_ caddymodule.PeerOriginsReporter = (*AWSAdapter)(nil)
	_ caddymodule.PeerHostsReporter   = (*AWSAdapter)(nil)
)
