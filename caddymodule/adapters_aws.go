package caddymodule

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/adapters/aws"
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
	repl := caddy.NewReplacer()
	for _, s := range []*string{
		&cfg.Region, &cfg.S3Endpoint, &cfg.EC2Endpoint, &cfg.AccessKeyID, &cfg.SecretAccessKey, &cfg.SessionToken,
		&cfg.ImageID, &cfg.SubnetID, &cfg.KeyName, &cfg.RootDevice, &cfg.NamePrefix,
	} {
		*s = repl.ReplaceAll(*s, "")
	}
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
	d.Next() // adapter name
	if d.NextArg() {
		m.Region = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &m.Config
	single := map[string]*string{
		"region": &c.Region, "s3_endpoint": &c.S3Endpoint, "ec2_endpoint": &c.EC2Endpoint,
		"access_key_id": &c.AccessKeyID, "secret_access_key": &c.SecretAccessKey, "session_token": &c.SessionToken,
		"image_id": &c.ImageID, "subnet_id": &c.SubnetID, "key_name": &c.KeyName,
		"root_device": &c.RootDevice, "name_prefix": &c.NamePrefix,
	}
	list := map[string]*[]string{"security_group_id": &c.SecurityGroupIDs, "services": &c.Services}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case single[opt] != nil:
			if err := oneArg(d, single[opt]); err != nil {
				return err
			}
		case list[opt] != nil:
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			*list[opt] = append(*list[opt], args...)
		case opt == "path_style":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.PathStyle = true
		case opt == "arch_image":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if c.ArchImages == nil {
				c.ArchImages = map[string]string{}
			}
			if _, dup := c.ArchImages[args[0]]; dup {
				return d.Errf("adapter aws: arch_image %q given twice", args[0])
			}
			c.ArchImages[args[0]] = args[1]
		case opt == "instance_type":
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
		default:
			return d.Errf("adapter aws: unrecognized option %q", opt)
		}
	}
	for _, s := range c.Services {
		if s != "ec2" && s != "s3" {
			return d.Errf("adapter aws: service %q: want ec2 or s3", s)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*AWSAdapter)(nil)
	_ caddyfile.Unmarshaler = (*AWSAdapter)(nil)
	_ adapters.Holder       = (*AWSAdapter)(nil)
	_ HTTPClientSetter      = (*AWSAdapter)(nil)
)
