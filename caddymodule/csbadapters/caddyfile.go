package csbadapters

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/aws"
	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

// parseArchImage parses "arch_image <architecture> <image>" into images;
// an architecture may be given once.
func parseArchImage(d *caddyfile.Dispenser, adapter string, images *map[string]string) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	if *images == nil {
		*images = map[string]string{}
	}
	if _, dup := (*images)[args[0]]; dup {
		return d.Errf("adapter %s: arch_image %q given twice", adapter, args[0])
	}
	(*images)[args[0]] = args[1]
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
// arch_image, instance_type, security_group_id and services may repeat
// (an architecture once); the instance_type lines replace the built-in
// table. Every other option may be given once.
func (m *AWSAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	c := &m.Config
	err := cfparse.Block{
		Name: "adapter aws",
		Arg:  &c.Region,
		Single: map[string]*string{
			"region": &c.Region, "s3_endpoint": &c.S3Endpoint, "ec2_endpoint": &c.EC2Endpoint,
			"access_key_id": &c.AccessKeyID, "secret_access_key": &c.SecretAccessKey, "session_token": &c.SessionToken,
			"image_id": &c.ImageID, "subnet_id": &c.SubnetID, "key_name": &c.KeyName,
			"root_device": &c.RootDevice, "name_prefix": &c.NamePrefix,
		},
		Lists:  map[string]*[]string{"security_group_id": &c.SecurityGroupIDs, "services": &c.Services},
		Flags:  map[string]*bool{"path_style": &c.PathStyle},
		Repeat: []string{"arch_image", "instance_type"},
		More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			switch opt {
			case "arch_image":
				return true, parseArchImage(d, "aws", &c.ArchImages)
			case "instance_type":
				return true, parseInstanceType(d, c)
			}
			return false, nil
		},
	}.Parse(d)
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

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter cdmi [<endpoint>] {
//		endpoint <url>
//		prefix   <prefix>
//	}
func (m *CDMIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "adapter cdmi", Arg: &m.Endpoint, Required: "endpoint", Single: map[string]*string{
		"endpoint": &m.Endpoint, "prefix": &m.Prefix,
	}}.Parse(d)
}

// UnmarshalCaddyfile parses the adapter inside a provider block:
//
//	adapter cimi [<endpoint>] {
//		endpoint    <url>
//		image       <name|href>
//		name_prefix <prefix>
//	}
func (m *CIMIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "adapter cimi", Arg: &m.Endpoint, Required: "endpoint", Single: map[string]*string{
		"endpoint": &m.Endpoint, "image": &m.Image, "name_prefix": &m.NamePrefix,
	}}.Parse(d)
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens. Syntax, in
// a provider block:
//
//	adapter link {
//		schemes <scheme>...
//	}
func (l *LinkAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "adapter link", Lists: map[string]*[]string{"schemes": &l.Schemes}}.Parse(d)
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
// arch_image (an architecture once), network and security_group may
// repeat; every other option may be given once.
func (m *OpenStackAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	c := &m.Config
	err := cfparse.Block{
		Name: "adapter openstack",
		Arg:  &c.AuthURL,
		Single: map[string]*string{
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
		Lists:  map[string]*[]string{"network": &c.Networks, "security_group": &c.SecurityGroups},
		Repeat: []string{"arch_image"},
		More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			if opt == "arch_image" {
				return true, parseArchImage(d, "openstack", &c.ArchImages)
			}
			return false, nil
		},
	}.Parse(d)
	if err != nil {
		return err
	}
	if c.AuthURL == "" && c.TempAuthURL == "" {
		return d.Err("adapter openstack: auth_url (Keystone v3) or tempauth_url (Swift TempAuth) is required")
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

// UnmarshalCaddyfile sets up the module from Caddyfile tokens. Syntax, in
// a provider block:
//
//	adapter occi [<endpoint>] {
//		endpoint      <url>
//		rendering     text/plain|text/occi
//		os_tpl        <scheme#term>
//		network       <location>
//		no_start
//		service_id    <id>
//		offer         [cores <n>] [memory <GB>] [speed <GHz>] [storage <GB>] [architecture x86|x64]
//		retries       <n>
//		retry_backoff <duration>
//		model_ttl     <duration>
//	}
//
// Each option may be given once, each offer key once in its line.
func (o *OCCIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := cfparse.Block{
		Name: "adapter occi",
		Arg:  &o.Endpoint,
		Single: map[string]*string{
			"endpoint": &o.Endpoint, "os_tpl": &o.OSTemplate, "network": &o.Network, "service_id": &o.ServiceID,
		},
		Flags: map[string]*bool{"no_start": &o.NoStart},
		More:  o.unmarshalOption,
	}.Parse(d)
	if err != nil {
		return err
	}
	if o.Endpoint == "" {
		return d.Err("adapter occi: an endpoint is required")
	}
	return nil
}

// unmarshalOption parses the options of UnmarshalCaddyfile that take
// more than a string.
func (o *OCCIAdapter) unmarshalOption(d *caddyfile.Dispenser, opt string) (bool, error) {
	switch opt {
	case "rendering":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		if v != occi.MediaTextPlain && v != occi.MediaTextOCCI {
			return true, d.Errf("adapter occi: rendering %q must be text/plain or text/occi", v)
		}
		o.Rendering = v
	case "offer":
		off, err := parseOffer(d)
		if err != nil {
			return true, err
		}
		o.Offer = off
	case "retries":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, d.Errf("adapter occi: retries %q is not a whole number", v)
		}
		if n == 0 {
			n = -1 // none; 0 in JSON means the default
		}
		o.Retries = n
	case "retry_backoff", "model_ttl":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur < 0 {
			return true, d.Errf("adapter occi: %s %q is not a duration", opt, v)
		}
		if opt == "retry_backoff" {
			o.RetryBackoff = caddy.Duration(dur)
		} else {
			o.ModelTTL = caddy.Duration(dur)
		}
	default:
		return false, nil
	}
	return true, nil
}

func parseOffer(d *caddyfile.Dispenser) (*OCCIOffer, error) {
	off := &OCCIOffer{}
	args := d.RemainingArgs()
	if len(args) == 0 || len(args)%2 != 0 {
		return nil, d.Err("adapter occi: offer takes pairs: cores <n> memory <GB> speed <GHz> storage <GB> architecture <x86|x64>")
	}
	given := map[string]bool{}
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		if given[k] {
			return nil, d.Errf("adapter occi: offer %s given twice", k)
		}
		given[k] = true
		if k == "architecture" {
			if v != "x86" && v != "x64" {
				return nil, d.Errf("adapter occi: offer architecture %q must be x86 or x64", v)
			}
			off.Architecture = v
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, d.Errf("adapter occi: offer %s %q is not a whole number", k, v)
		}
		switch k {
		case "cores":
			off.Cores = n
		case "memory":
			off.Memory = n
		case "speed":
			off.Speed = n
		case "storage":
			off.Storage = n
		default:
			return nil, d.Errf("adapter occi: unknown offer %q", k)
		}
	}
	return off, nil
}
