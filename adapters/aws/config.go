package aws

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Config says how to reach and use one AWS account (or an S3- or
// EC2-compatible service).
type Config struct {
	// Region is the signing region. Default us-east-1.
	Region string `json:"region,omitempty"`
	// S3Endpoint overrides the S3 endpoint (an S3-compatible service, or
	// a VPC endpoint). Default: AWS's endpoint for the region.
	S3Endpoint string `json:"s3_endpoint,omitempty"`
	// EC2Endpoint overrides the EC2 endpoint. Default: AWS's endpoint for
	// the region.
	EC2Endpoint string `json:"ec2_endpoint,omitempty"`
	// Services are the services the provider offers through this
	// adapter: "ec2", "s3" or both. Discover looks only at these, and a
	// request for another is unsupported. Default both.
	Services []string `json:"services,omitempty"`
	// PathStyle makes S3 requests path-style (https://host/bucket/key)
	// instead of virtual-hosted. Default false; most S3-compatible
	// services need true.
	PathStyle bool `json:"path_style,omitempty"`

	// AccessKeyID and SecretAccessKey (and SessionToken for temporary
	// credentials) are static credentials. Default: the SDK's default
	// chain (environment, shared files, container and instance roles).
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	SessionToken    string `json:"session_token,omitempty"`

	// ImageID is the AMI instances boot from. Required for IaaS requests
	// unless ArchImages names one for the request's architecture.
	ImageID string `json:"image_id,omitempty"`
	// ArchImages maps a requested <architecture> (x86_64, arm64) to the
	// AMI instances of that architecture boot from.
	ArchImages map[string]string `json:"arch_images,omitempty"`
	// InstanceTypes is the table a request's cores and memory are matched
	// against (the smallest fitting type wins). Default: DefaultInstanceTypes.
	InstanceTypes []InstanceType `json:"instance_types,omitempty"`
	// SubnetID places instances in this subnet. Optional.
	SubnetID string `json:"subnet_id,omitempty"`
	// SecurityGroupIDs are the instances' security groups. Optional.
	SecurityGroupIDs []string `json:"security_group_ids,omitempty"`
	// KeyName is the EC2 key pair of new instances. Optional.
	KeyName string `json:"key_name,omitempty"`
	// RootDevice is the root volume's device name, used when a request
	// asks for a storage size. Default /dev/xvda.
	RootDevice string `json:"root_device,omitempty"`

	// NamePrefix prefixes the names the adapter gives buckets itself
	// (prefix + job id). Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`
}

// InstanceType is one row of the instance-type table.
type InstanceType struct {
	// Name is the EC2 instance type, e.g. t3.micro.
	Name string `json:"name"`
	// VCPUs is its number of vCPUs.
	VCPUs int `json:"vcpus"`
	// MemoryMiB is its memory in MiB.
	MemoryMiB int `json:"memory_mib"`
	// Architecture is the CPU architecture (x86_64, arm64). Empty: any.
	Architecture string `json:"architecture,omitempty"`
}

// Defaults.
const (
	DefaultRegion     = "us-east-1"
	DefaultRootDevice = "/dev/xvda"
	DefaultNamePrefix = "csb-"
)

// DefaultInstanceTypes is the instance-type table when the configuration
// has none: the general-purpose t3, m5 and (arm64) t4g families.
var DefaultInstanceTypes = []InstanceType{
	{"t3.nano", 2, 512, "x86_64"},
	{"t3.micro", 2, 1024, "x86_64"},
	{"t3.small", 2, 2048, "x86_64"},
	{"t3.medium", 2, 4096, "x86_64"},
	{"t3.large", 2, 8192, "x86_64"},
	{"t3.xlarge", 4, 16384, "x86_64"},
	{"t3.2xlarge", 8, 32768, "x86_64"},
	{"m5.4xlarge", 16, 65536, "x86_64"},
	{"m5.8xlarge", 32, 131072, "x86_64"},
	{"m5.16xlarge", 64, 262144, "x86_64"},
	{"t4g.nano", 2, 512, "arm64"},
	{"t4g.micro", 2, 1024, "arm64"},
	{"t4g.small", 2, 2048, "arm64"},
	{"t4g.medium", 2, 4096, "arm64"},
	{"t4g.large", 2, 8192, "arm64"},
	{"t4g.xlarge", 4, 16384, "arm64"},
	{"t4g.2xlarge", 8, 32768, "arm64"},
}

var namePrefixRE = regexp.MustCompile(`^[a-z0-9.-]{0,40}$`)

// Validate checks the configuration without network access.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for name, v := range map[string]string{"s3_endpoint": c.S3Endpoint, "ec2_endpoint": c.EC2Endpoint} {
		if v == "" {
			continue
		}
		if _, ok := httpx.ParseHTTPURL(v); !ok {
			bad("%s %q: not an http(s) URL", name, peerurl.RedactString(v))
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		bad("access_key_id and secret_access_key go together")
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		bad("session_token needs access_key_id and secret_access_key")
	}
	for _, s := range c.Services {
		if s != "ec2" && s != "s3" {
			bad("service %q: want ec2 or s3", s)
		}
	}
	for i, it := range c.InstanceTypes {
		if it.Name == "" || it.VCPUs <= 0 || it.MemoryMiB <= 0 {
			bad("instance type %d (%q): needs a name, vcpus > 0 and memory > 0", i, it.Name)
		}
	}
	if !namePrefixRE.MatchString(c.NamePrefix) {
		bad("name_prefix %q: want up to 40 lower-case letters, digits, '.' or '-'", c.NamePrefix)
	}
	return errors.Join(errs...)
}
