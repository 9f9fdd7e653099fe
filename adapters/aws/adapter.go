// Package aws is the cloud service adapter for Amazon Web Services: EC2
// for IaaS compute and S3 for DSaaS object storage, through the AWS SDK
// for Go v2 (SigV4 signing, a configurable endpoint and region, static
// credentials or the SDK's default chain). S3-compatible services (such
// as OpenStack Swift's s3api) work with s3_endpoint and path_style.
//
// The mapping between the draft's elements and the native fields is the
// table in mapping.go, rendered in README.md.
//
// This package does not import Caddy.
package aws

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/caddy-csb/caddy-csb/adapters/internal/lazy"
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Keys of contract.Resource.Native.
const (
	nativeKind         = "kind"          // kindInstance or kindBucket
	nativeInstanceID   = "instance_id"   // EC2 instance id
	nativeInstanceType = "instance_type" // EC2 instance type
	nativeWant         = "want_state"    // EC2 state the last action aims for
	nativeHibernated   = "hibernated"    // "true" after suspend
	nativeLaunched     = "launched"      // RFC 3339 time of RunInstances, until DescribeInstances lists the instance
	nativeClientToken  = "client_token"  // RunInstances token, in the handle of a call whose answer was lost
	nativeEndpoint     = "endpoint"      // S3 base endpoint (path style)
	nativeBucket       = "bucket"        // S3 bucket
	nativeBucketMade   = "bucket_created"
	nativeObject       = "object" // S3 object key
)

const (
	kindInstance = "instance"
	kindBucket   = "bucket"
)

// Adapter speaks EC2 and S3 for one provider. It is safe for concurrent
// use.
//
// Status, Update and Remove (of model.Router) go to EC2 for an instance
// and to S3 for a bucket: Status reads the instance, or the bucket and
// object, back; Update applies compute actions or a resize to an
// instance, or a new value, type or metadata to an object; Remove
// terminates the instance, or empties and deletes the bucket.
type Adapter struct {
	model.Router
	cfg   Config
	clock clock.Clock

	mu         sync.Mutex
	httpClient *http.Client
	awsCfg     *sdkaws.Config
	s3c        *s3.Client
	ec2c       *ec2.Client
}

// New checks cfg, applies its defaults and returns an adapter. It makes no
// network call and reads no credentials yet.
func New(cfg Config) (*Adapter, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.RootDevice == "" {
		cfg.RootDevice = DefaultRootDevice
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	if len(cfg.InstanceTypes) == 0 {
		cfg.InstanceTypes = DefaultInstanceTypes
	}
	if len(cfg.Services) == 0 {
		cfg.Services = []string{"ec2", "s3"}
	}
	cfg.Services = slices.Clone(cfg.Services)
	cfg.InstanceTypes = slices.Clone(cfg.InstanceTypes)
	cfg.ArchImages = maps.Clone(cfg.ArchImages)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, clock: clock.Real{}}
	a.Router = model.Router{Adapter: "aws", KindKey: nativeKind, Routes: map[string]model.Route{
		kindInstance: {Model: model.IaaS, What: "an EC2 instance", Status: a.instanceStatus, Update: a.updateInstance, Remove: a.removeInstance, Find: a.findInstance},
		kindBucket:   {Model: model.DSaaS, What: "DSaaS storage", Status: a.grantedBucketStatus, Update: a.updateBucket, Remove: a.removeBucket, Find: a.findBucket},
	}}
	return a, nil
}

// Config returns the adapter's configuration with defaults applied.
func (a *Adapter) Config() Config { return a.cfg }

// SetHTTPClient makes the adapter use c (the provider's TLS trust and
// transport) for every call. Call it before use.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.httpClient = c
	a.awsCfg, a.s3c, a.ec2c = nil, nil, nil
}

// sdkConfig loads the SDK configuration once: static credentials from the
// configuration, or the SDK's default chain.
func (a *Adapter) sdkConfig(ctx context.Context) (*sdkaws.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.awsCfg != nil {
		return a.awsCfg, nil
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(a.cfg.Region),
		awsconfig.WithRetryer(func() sdkaws.Retryer {
			// The SDK retries throttling, 5xx and transport errors; every
			// call the adapter makes is idempotent (RunInstances carries a
			// client token). Backoffs stay short: the broker has its own
			// deadlines.
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = time.Second
			})
		}),
	}
	if a.cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(a.cfg.AccessKeyID, a.cfg.SecretAccessKey, a.cfg.SessionToken)))
	}
	if a.httpClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(a.httpClient))
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindClient, Op: "load aws configuration", Err: err}
	}
	a.awsCfg = &c
	return a.awsCfg, nil
}

func (a *Adapter) s3Client(ctx context.Context) (*s3.Client, error) {
	return lazy.Get(&a.mu, &a.s3c, func() (*sdkaws.Config, error) { return a.sdkConfig(ctx) }, func(c *sdkaws.Config) (*s3.Client, error) {
		return s3.NewFromConfig(*c, func(o *s3.Options) {
			if a.cfg.S3Endpoint != "" {
				o.BaseEndpoint = sdkaws.String(a.cfg.S3Endpoint)
			}
			o.UsePathStyle = a.cfg.PathStyle
			// Checksums only where S3 requires them: S3-compatible
			// services do not all know the newer x-amz-checksum-*
			// headers and trailers.
			o.RequestChecksumCalculation = sdkaws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = sdkaws.ResponseChecksumValidationWhenRequired
		}), nil
	})
}

func (a *Adapter) ec2Client(ctx context.Context) (*ec2.Client, error) {
	return lazy.Get(&a.mu, &a.ec2c, func() (*sdkaws.Config, error) { return a.sdkConfig(ctx) }, func(c *sdkaws.Config) (*ec2.Client, error) {
		return ec2.NewFromConfig(*c, func(o *ec2.Options) {
			if a.cfg.EC2Endpoint != "" {
				o.BaseEndpoint = sdkaws.String(a.cfg.EC2Endpoint)
			}
		}), nil
	})
}

// credentials returns the current signing credentials.
func (a *Adapter) credentials(ctx context.Context) (sdkaws.Credentials, error) {
	c, err := a.sdkConfig(ctx)
	if err != nil {
		return sdkaws.Credentials{}, err
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return sdkaws.Credentials{}, &contract.Error{Kind: contract.KindClient, Op: "credentials", Err: err}
	}
	return creds, nil
}

// Provision runs an EC2 instance for an IaaS request, or creates an S3
// bucket (and object) for a DSaaS request.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	m, err := a.model("provision", req.Want)
	if err != nil {
		return nil, err
	}
	if m == model.IaaS {
		return a.provisionInstance(ctx, req)
	}
	return a.provisionBucket(ctx, req)
}

// model returns the model (and so the API) a request is for, refusing
// the models of the services the provider does not offer.
func (a *Adapter) model(op string, w csbmsg.ServiceRequest) (string, error) {
	m, err := model.Of(op, "aws", "IaaS (EC2) and DSaaS (S3)", w)
	switch {
	case err != nil:
		return "", err
	case m == model.IaaS && !a.offers("ec2"):
		return "", contract.Errorf(contract.KindUnsupported, op, "this provider offers no EC2 (services)")
	case m == model.DSaaS && !a.offers("s3"):
		return "", contract.Errorf(contract.KindUnsupported, op, "this provider offers no S3 (services)")
	}
	return m, nil
}

// Discover lists the instance types of the table that EC2 offers, as IaaS
// services, and S3 as one DSaaS service, for whichever endpoint answers.
func (a *Adapter) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	var out []csbmsg.Service
	var firstErr error
	if a.offers("ec2") {
		types, err := a.discoverInstanceTypes(ctx)
		out = append(out, types...)
		firstErr = err
	}
	if a.offers("s3") {
		bucket, err := a.discoverS3(ctx)
		if err == nil {
			out = append(out, bucket)
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

func (a *Adapter) offers(service string) bool { return slices.Contains(a.cfg.Services, service) }

func foreign(res *contract.Resource) error { return model.Foreign("aws", res) }

func ptr[T any](v T) *T { return &v }

// Interface guards (Fronter and Finder are guarded in front.go and
// find.go).
var (
	_ contract.Adapter    = (*Adapter)(nil)
	_ contract.Discoverer = (*Adapter)(nil)
)

// ServiceKinds reports the service models the adapter serves
// (contract.KindReporter): IaaS with EC2, DSaaS with S3.
func (a *Adapter) ServiceKinds() []string {
	var out []string
	if a.offers("ec2") {
		out = append(out, "IaaS")
	}
	if a.offers("s3") {
		out = append(out, "DSaaS")
	}
	return out
}

var _ contract.KindReporter = (*Adapter)(nil)
