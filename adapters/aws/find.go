package aws

import (
	"context"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Find gathers what Provision created for a job from the job id alone,
// for the broker's reconciliation of a crash between Provision's calls and
// its recording of their answer:
//
//   - IaaS: the instance tagged csb-job with the job id (not terminated)
//     and csb-provider with this provider (see providerTag);
//   - DSaaS: the bucket the adapter named after the job, with the job's
//     object. A bucket the request names cannot be told from someone
//     else's (S3-compatible stores need not keep bucket tags), so it is
//     never claimed: Find reports nothing for it.
//
// A bucket without the object the request asks for is marked incomplete:
// Status reports it failed, and the broker removes it rather than hand
// half a job to the consumer.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	m, err := a.model("find", req.Want)
	if err != nil {
		return nil, nil // Provision creates nothing for such a request
	}
	return a.Router.Find(ctx, m, req)
}

func (a *Adapter) findInstance(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	c, err := a.ec2Client(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: sdkaws.String("tag:csb-job"), Values: []string{req.JobID}},
		{Name: sdkaws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	if err != nil {
		return nil, nativeErr("describe instances", err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if inst.InstanceId == nil || !launchedBy(&inst, req.ProviderID) {
				continue
			}
			it, ok := a.typeByName(string(inst.InstanceType))
			if !ok {
				it = InstanceType{Name: string(inst.InstanceType)}
			}
			return a.instanceResource(req.Want.IaaS, it, &inst), nil
		}
	}
	return nil, nil
}

func (a *Adapter) findBucket(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS
	if objstore.ContainerName(d) != "" || unsupportedDSaaS(d) != nil {
		return nil, nil
	}
	bucket := a.jobBucket(req.JobID)
	c, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	if err := statBucket(ctx, c, bucket); err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, nativeErr("head bucket", err)
	}
	res := a.bucketResource(bucket)
	res.Granted = csbmsg.ServiceRequest{DSaaS: d}
	if d.DataObject != nil {
		key, err := objectKey(d.DataObject)
		if err != nil {
			return nil, nil
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		switch {
		case err == nil:
			res.Native[nativeObject] = key
			res.URI = a.objectURL(bucket, key)
		case isNotFound(err):
			model.Incomplete(res)
		default:
			return nil, nativeErr("head object", err)
		}
	}
	return res, nil
}

// launchedBy reports whether inst was launched by provider: its
// csb-provider tag names it, or it has none (launched before instances
// carried it).
func launchedBy(inst *ec2types.Instance, provider string) bool {
	for _, t := range inst.Tags {
		if t.Key != nil && *t.Key == providerTag {
			return t.Value != nil && *t.Value == provider
		}
	}
	return true
}

var _ contract.Finder = (*Adapter)(nil)
