package aws

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// need is what a compute request asks of an instance type.
type need struct {
	cores, memMiB int
	arch          string
}

func (n need) String() string {
	s := fmt.Sprintf("%d vCPUs and %d MiB", n.cores, n.memMiB)
	if n.arch != "" {
		s += " on " + n.arch
	}
	return s
}

func needOf(x *csbmsg.IaaS) need {
	var n need
	if c := x.Compute; c != nil {
		if c.Cores != nil {
			n.cores = int(min(*c.Cores, 1<<20))
		}
		if c.Memory != nil {
			n.memMiB = int(min(*c.Memory, 1<<20)) * 1024
		}
		if c.Architecture != nil {
			n.arch = *c.Architecture
		}
	}
	return n
}

// smallestType returns the smallest type of the table that fits n: fewest
// vCPUs, then least memory, then name.
func smallestType(table []InstanceType, n need) (InstanceType, bool) {
	return model.Smallest(table, func(t InstanceType) bool {
		return t.VCPUs >= n.cores && t.MemoryMiB >= n.memMiB && (n.arch == "" || t.Architecture == "" || t.Architecture == n.arch)
	}, func(a, b InstanceType) int {
		return cmp.Or(cmp.Compare(a.VCPUs, b.VCPUs), cmp.Compare(a.MemoryMiB, b.MemoryMiB), cmp.Compare(a.Name, b.Name))
	})
}

func (a *Adapter) typeByName(name string) (InstanceType, bool) {
	for _, t := range a.cfg.InstanceTypes {
		if t.Name == name {
			return t, true
		}
	}
	return InstanceType{}, false
}

func unsupportedIaaS(x *csbmsg.IaaS, update bool) error {
	uns := func(format string, args ...any) error {
		return &contract.Error{Kind: contract.KindUnsupported, Op: "iaas", Err: fmt.Errorf(format, args...)}
	}
	switch {
	case x.Link != nil:
		return uns("an IaaS <Link> (OVF descriptor) is expanded by the ovf adapter, not by aws")
	case x.Network != nil && x.Network.Action != nil:
		return uns("network action %q: the adapter does not drive VPC networking", *x.Network.Action)
	case x.Storage != nil && x.Storage.Action != nil && *x.Storage.Action != csbmsg.StorageActResize:
		return uns("storage action %q has no EC2 instance equivalent here", *x.Storage.Action)
	case !update && x.Compute != nil && x.Compute.Action != nil:
		return uns("compute action %q applies to an existing job (update)", *x.Compute.Action)
	}
	return nil
}

func (a *Adapter) imageFor(n need) (string, error) {
	return model.Image(a.cfg.ArchImages, a.cfg.ImageID, n.arch, "AMI", "instances (image_id)")
}

func (a *Adapter) provisionInstance(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	x := req.Want.IaaS
	if err := unsupportedIaaS(x, false); err != nil {
		return nil, err
	}
	n := needOf(x)
	it, ok := smallestType(a.cfg.InstanceTypes, n)
	if !ok {
		return nil, &contract.Error{Kind: contract.KindCapacity, Op: "provision", Err: fmt.Errorf("no instance type offers %s", n)}
	}
	if x.Storage != nil && x.Storage.Size != nil && *x.Storage.Size > maxGP3GiB {
		return nil, &contract.Error{Kind: contract.KindCapacity, Op: "provision", Err: fmt.Errorf("a gp3 root volume holds at most %d GiB, not %d", maxGP3GiB, *x.Storage.Size)}
	}
	image, err := a.imageFor(n)
	if err != nil {
		return nil, err
	}
	c, err := a.ec2Client(ctx)
	if err != nil {
		return nil, err
	}
	tags := []ec2types.Tag{{Key: ptr("csb-job"), Value: ptr(req.JobID)}}
	// The owner tag is informative (Find goes by csb-job): an owner name
	// longer than an EC2 tag value may be (256 characters) is left out
	// rather than make RunInstances fail.
	if req.Owner != "" && utf8.RuneCountInString(req.Owner) <= maxTagValue {
		tags = append(tags, ec2types.Tag{Key: ptr("csb-owner"), Value: ptr(req.Owner)})
	}
	if p := req.ProviderID; p != "" && utf8.RuneCountInString(p) <= maxTagValue {
		tags = append(tags, ec2types.Tag{Key: ptr(providerTag), Value: ptr(p)})
	}
	if x.Compute != nil && x.Compute.Hostname != nil {
		tags = append(tags, ec2types.Tag{Key: ptr("Name"), Value: x.Compute.Hostname})
	}
	in := &ec2.RunInstancesInput{
		ImageId:      &image,
		InstanceType: ec2types.InstanceType(it.Name),
		MinCount:     sdkaws.Int32(1),
		MaxCount:     sdkaws.Int32(1),
		// The job id makes RunInstances idempotent: a retried call
		// returns the same instance instead of a second one.
		ClientToken:       ptr(clientToken(req.ProviderID, req.JobID, "")),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}},
	}
	if a.cfg.KeyName != "" {
		in.KeyName = &a.cfg.KeyName
	}
	if a.cfg.SubnetID != "" {
		in.SubnetId = &a.cfg.SubnetID
	}
	if len(a.cfg.SecurityGroupIDs) > 0 {
		in.SecurityGroupIds = a.cfg.SecurityGroupIDs
	}
	if x.Storage != nil && x.Storage.Size != nil {
		in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{
			DeviceName: &a.cfg.RootDevice,
			Ebs: &ec2types.EbsBlockDevice{
				VolumeSize:          sdkaws.Int32(int32(*x.Storage.Size)),
				VolumeType:          ec2types.VolumeTypeGp3,
				DeleteOnTermination: sdkaws.Bool(true),
			},
		}}
	}
	// A client token stays bound to its instance for at least a day
	// after the instance terminated (EC2 API reference, Ensuring
	// idempotency). When the job's token names an instance that is
	// already shutting down or terminated (an earlier attempt's, at this
	// provider, failed or removed), the next token is derived from that
	// instance's id: a new instance is launched, and a retried Provision
	// follows the same chain to it.
	var inst *ec2types.Instance
	for range 4 {
		out, err := c.RunInstances(ctx, in)
		switch {
		case err != nil && !mayHaveActed(err):
			return nil, nativeErr("run instances", err)
		case err != nil:
			// The call may have reached EC2 and its answer been lost
			// (connection reset, the deadline after sending): an
			// instance may run under the token. The token finds it:
			// it is adopted as the answer. When it cannot be looked up
			// (the deadline has passed) or is not listed yet, the
			// error comes with a handle on the token, so that the
			// broker's cleanup (Remove) terminates what the token
			// names before its plan moves on, or keeps it as an
			// orphan and retries.
			found, ferr := a.byClientToken(ctx, c, *in.ClientToken)
			if ferr != nil || found == nil {
				return a.unansweredResource(*in.ClientToken), nativeErr("run instances", err)
			}
			inst = found
		case len(out.Instances) != 1 || out.Instances[0].InstanceId == nil:
			return nil, &contract.Error{Kind: contract.KindServer, Op: "run instances", Err: errors.New("no instance in the answer")}
		default:
			inst = &out.Instances[0]
		}
		if !dead(inst) {
			break
		}
		in.ClientToken = ptr(clientToken(req.ProviderID, req.JobID, *inst.InstanceId))
	}
	res := a.instanceResource(x, it, inst)
	res.Native[nativeLaunched] = a.clock.Now().UTC().Format(time.RFC3339)
	return res, nil
}

// mayHaveActed reports whether a failed call may still have been carried
// out: EC2 or S3 did not answer it with a refusal. A 4xx answer to the
// last try settles it, unless the SDK gave up after several tries
// (retry.MaxAttemptsError): an earlier one may have been carried out and
// its answer lost. For RunInstances a refusal of a later try does settle
// it: a try with the same client token after a launch gets the launched
// instance back (EC2 API reference, Ensuring idempotency), not a refusal.
func mayHaveActed(err error) bool {
	var tries *retry.MaxAttemptsError
	if errors.As(err, &tries) {
		return true
	}
	s := statusOf(err)
	return s < 400 || s >= 500
}

// byClientToken returns the instance RunInstances launched with token,
// or nil when EC2 lists none (DescribeInstances filter client-token).
// A live instance is preferred to a terminated one.
func (a *Adapter) byClientToken(ctx context.Context, c *ec2.Client, token string) (*ec2types.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: sdkaws.String("client-token"), Values: []string{token}},
	}})
	if err != nil {
		return nil, err
	}
	var found *ec2types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			in := &r.Instances[i]
			if in.InstanceId == nil || (in.ClientToken != nil && *in.ClientToken != token) {
				continue
			}
			if found == nil || dead(found) && !dead(in) {
				found = in
			}
		}
	}
	return found, nil
}

// dead reports whether inst is shutting down or terminated.
func dead(inst *ec2types.Instance) bool {
	return inst.State != nil && (inst.State.Name == ec2types.InstanceStateNameShuttingDown || inst.State.Name == ec2types.InstanceStateNameTerminated)
}

// unansweredResource is the handle of a RunInstances with token whose
// answer was lost: it names no instance, only the token, by which
// Remove finds what the call launched, if anything. Status reports it
// failed: it is never handed to a consumer.
func (a *Adapter) unansweredResource(token string) *contract.Resource {
	base := a.instanceURI("")
	return &contract.Resource{
		URI:   base[:strings.Index(base, "?")] + "?Action=DescribeInstances&Filter.1.Name=client-token&Filter.1.Value.1=" + url.QueryEscape(token),
		State: contract.StateFailed,
		Native: map[string]string{
			nativeKind:        kindInstance,
			nativeClientToken: token,
			nativeLaunched:    a.clock.Now().UTC().Format(time.RFC3339),
		},
	}
}

// ec2Propagation bounds how long after RunInstances an instance id may
// still be unknown to other EC2 calls. EC2's API is eventually
// consistent: right after RunInstances, DescribeInstances and
// TerminateInstances may answer InvalidInstanceID.NotFound for the new
// instance, which "does not mean the instance does not exist" (EC2 API
// reference, Eventual consistency); EC2 suggests backing off up to a
// few minutes.
const ec2Propagation = 5 * time.Minute

// unlisted reports whether EC2's NotFound for res's instance may only
// mean that the id has not propagated yet: the adapter launched it
// (nativeLaunched) less than ec2Propagation ago and no DescribeInstances
// has shown it since.
func (a *Adapter) unlisted(res *contract.Resource) bool {
	t, err := time.Parse(time.RFC3339, res.Native[nativeLaunched])
	return err == nil && a.clock.Now().Sub(t) < ec2Propagation
}

// maxTagValue is the most characters an EC2 tag value holds.
const maxTagValue = 256

// maxGP3GiB is the largest gp3 volume EC2 makes (16 TiB). A larger root
// volume is refused rather than cut down, which the grant would not say.
const maxGP3GiB = 16384

// instanceResource is the Resource of a new instance of type it, made
// for request x: pending until it runs.
func (a *Adapter) instanceResource(x *csbmsg.IaaS, it InstanceType, inst *ec2types.Instance) *contract.Resource {
	return &contract.Resource{
		URI:   a.instanceURI(*inst.InstanceId),
		State: contract.StatePending,
		Native: map[string]string{
			nativeKind:         kindInstance,
			nativeInstanceID:   *inst.InstanceId,
			nativeInstanceType: it.Name,
			nativeWant:         "running",
		},
		Granted: csbmsg.ServiceRequest{IaaS: a.grant(x, it, inst, false)},
	}
}

// providerTag is the instance tag that names the provider (the broker's
// provider id) that launched an instance. Two providers may front the
// same account and region; a job moved from one to the other keeps its
// id, and the move removes the original: neither provider's Find may
// claim the other's instance for the job.
const providerTag = "csb-provider"

// clientToken is the RunInstances idempotency token of job at provider
// ("" when the request names none), after the instance an earlier token
// of the job names ("" for the first): csb-<job>[-<after>][-<provider
// hash>], at most 64 ASCII characters. It names the provider for the
// reason providerTag does: EC2 would hand the other provider the
// original's instance.
func clientToken(provider, job, after string) string {
	t := "csb-" + job
	if after != "" {
		t += "-" + after
	}
	if provider != "" {
		sum := sha256.Sum256([]byte(provider))
		t += "-" + hex.EncodeToString(sum[:4])
	}
	if len(t) > 64 {
		sum := sha256.Sum256([]byte(t))
		t = "csb-" + hex.EncodeToString(sum[:])[:60]
	}
	return t
}

func (a *Adapter) instanceURI(id string) string {
	base := a.cfg.EC2Endpoint
	if base == "" {
		base = "https://ec2." + a.cfg.Region + ".amazonaws.com"
	}
	return strings.TrimRight(base, "/") + "/?Action=DescribeInstances&InstanceId.1=" + id
}

// ec2States maps an EC2 instance state to the resource state and the CSB
// compute status.
var ec2States = map[ec2types.InstanceStateName]model.StateOf{
	ec2types.InstanceStateNamePending:      {State: contract.StatePending, Compute: csbmsg.ComputeInactive},
	ec2types.InstanceStateNameRunning:      {State: contract.StateReady, Compute: csbmsg.ComputeActive},
	ec2types.InstanceStateNameStopping:     {State: contract.StatePending, Compute: csbmsg.ComputeInactive},
	ec2types.InstanceStateNameStopped:      {State: contract.StateReady, Compute: csbmsg.ComputeInactive},
	ec2types.InstanceStateNameShuttingDown: {State: contract.StateGone, Compute: csbmsg.ComputeInactive},
	ec2types.InstanceStateNameTerminated:   {State: contract.StateGone, Compute: csbmsg.ComputeInactive},
}

// ec2Action is one EC2 call an action makes.
type ec2Action string

const (
	actStart     ec2Action = "StartInstances"
	actStop      ec2Action = "StopInstances"
	actHibernate ec2Action = "StopInstances Hibernate=true"
	actReboot    ec2Action = "RebootInstances"
)

// computeActions maps a CSB compute action and the instance's state to
// the EC2 call ("" = already there) and the state the instance reaches.
var computeActions = map[csbmsg.ComputeAction]model.ActionRule[ec2types.InstanceStateName, ec2Action]{
	csbmsg.ComputeStart:   {From: map[ec2types.InstanceStateName]ec2Action{"running": "", "stopped": actStart}, Target: "running"},
	csbmsg.ComputeStop:    {From: map[ec2types.InstanceStateName]ec2Action{"running": actStop, "stopped": ""}, Target: "stopped"},
	csbmsg.ComputeRestart: {From: map[ec2types.InstanceStateName]ec2Action{"running": actReboot, "stopped": actStart}, Target: "running"},
	csbmsg.ComputeSuspend: {From: map[ec2types.InstanceStateName]ec2Action{"running": actHibernate}, Target: "stopped"},
}

func (a *Adapter) describe(ctx context.Context, c *ec2.Client, id string) (*ec2types.Instance, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.InstanceId != nil && *in.InstanceId == id {
				return &in, nil
			}
		}
	}
	return nil, nil
}

func (a *Adapter) instanceStatus(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	c, err := a.ec2Client(ctx)
	if err != nil {
		return nil, err
	}
	out := res.Clone()
	if res.Native[nativeInstanceID] == "" {
		// The handle of a RunInstances whose answer was lost
		// (unansweredResource): only ever removed.
		out.State = contract.StateFailed
		return out, nil
	}
	in, err := a.describe(ctx, c, res.Native[nativeInstanceID])
	if err != nil && !isNotFound(err) {
		return nil, nativeErr("describe instances", err)
	}
	if in == nil || in.State == nil {
		if a.unlisted(res) {
			// Not propagated yet: still being built, not gone (a gone
			// resource is never removed, so the instance would be left
			// running).
			out.State = contract.StatePending
			return out, nil
		}
		out.State = contract.StateGone
		return out, nil
	}
	delete(out.Native, nativeLaunched) // listed: NotFound from now on means gone
	st, ok := ec2States[in.State.Name]
	if !ok {
		st.State, st.Compute = contract.StatePending, csbmsg.ComputeInactive
	}
	out.State = st.State
	if want := res.Native[nativeWant]; out.State == contract.StateReady && want != "" && want != string(in.State.Name) {
		out.State = contract.StatePending
	}
	if out.State == contract.StateReady {
		delete(out.Native, nativeWant)
	}
	name := string(in.InstanceType)
	it, ok := a.typeByName(name)
	if !ok {
		it = InstanceType{Name: name}
		if in.CpuOptions != nil && in.CpuOptions.CoreCount != nil && in.CpuOptions.ThreadsPerCore != nil {
			it.VCPUs = int(*in.CpuOptions.CoreCount * *in.CpuOptions.ThreadsPerCore)
		}
	}
	out.Native[nativeInstanceType] = name
	want := res.Granted.IaaS
	if want == nil {
		want = &csbmsg.IaaS{}
	}
	g := a.grant(want, it, in, res.Native[nativeHibernated] == "true")
	cs := st.Compute
	if cs == csbmsg.ComputeInactive && in.State.Name == ec2types.InstanceStateNameStopped && res.Native[nativeHibernated] == "true" {
		cs = csbmsg.ComputeSuspended
	}
	g.Compute.Status = &cs
	out.Granted = csbmsg.ServiceRequest{IaaS: g}
	return out, nil
}

// grant is what an instance of type it grants for request x.
func (a *Adapter) grant(x *csbmsg.IaaS, it InstanceType, in *ec2types.Instance, _ bool) *csbmsg.IaaS {
	g := &csbmsg.IaaS{Compute: &csbmsg.Compute{}}
	if it.VCPUs > 0 {
		g.Compute.Cores = ptr(uint64(it.VCPUs))
	}
	if it.MemoryMiB > 0 {
		g.Compute.Memory = ptr(uint64(it.MemoryMiB / 1024))
	}
	if x.Compute != nil {
		g.Compute.Hostname = x.Compute.Hostname
		g.Compute.Architecture = x.Compute.Architecture
	}
	if in != nil && in.Architecture != "" {
		arch := string(in.Architecture)
		g.Compute.Architecture = &arch
	}
	if x.Storage != nil {
		g.Storage = &csbmsg.Storage{Size: x.Storage.Size}
	}
	if in != nil && in.PrivateIpAddress != nil {
		active := csbmsg.NetworkActive
		dyn := csbmsg.AllocationDynamic
		addr := *in.PrivateIpAddress
		ni := &csbmsg.NetworkInterface{IP: &addr, Allocation: &dyn, Status: &active}
		if len(in.NetworkInterfaces) > 0 && in.NetworkInterfaces[0].MacAddress != nil {
			ni.MAC = in.NetworkInterfaces[0].MacAddress
		}
		g.NetworkInterface = ni
		g.Network = &csbmsg.Network{Address: &addr, Allocation: &dyn, Status: &active}
		if in.SubnetId != nil {
			g.Network.VLANLabel = model.NMToken(*in.SubnetId)
		}
	}
	return g
}

func (a *Adapter) updateInstance(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	x := req.Want.IaaS // not nil: see model.Route.Update
	if err := unsupportedIaaS(x, true); err != nil {
		return nil, err
	}
	c, err := a.ec2Client(ctx)
	if err != nil {
		return nil, err
	}
	id := res.Native[nativeInstanceID]
	in, err := a.describe(ctx, c, id)
	if err != nil {
		return nil, nativeErr("describe instances", err)
	}
	if in == nil || in.State == nil {
		return nil, &contract.Error{Kind: contract.KindNotFound, Op: "update", Err: fmt.Errorf("instance %s is gone", id)}
	}
	state := in.State.Name
	out := res.Clone()
	var action *csbmsg.ComputeAction
	if x.Compute != nil {
		action = x.Compute.Action
	}
	n := needOf(x)
	resize := n.cores > 0 || n.memMiB > 0
	if resize && action != nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("one change per update: a resize or a compute action")}
	}
	granted := res.Granted.IaaS
	if granted == nil {
		granted = &csbmsg.IaaS{}
	}
	if err := unchangeable(x, granted, in); err != nil {
		return nil, err
	}
	switch {
	case resize:
		// The broker hands over the update's own elements: what it does
		// not name stays as the instance has it, its vCPUs, its memory
		// and its AMI's architecture.
		cur, known := a.typeByName(string(in.InstanceType))
		if !known && granted.Compute != nil {
			if granted.Compute.Cores != nil {
				cur.VCPUs = int(*granted.Compute.Cores)
			}
			if granted.Compute.Memory != nil {
				cur.MemoryMiB = int(*granted.Compute.Memory) * 1024
			}
		}
		if n.cores == 0 {
			n.cores = cur.VCPUs
		}
		if n.memMiB == 0 {
			n.memMiB = cur.MemoryMiB
		}
		n.arch = instanceArch(in, granted)
		it, ok := smallestType(a.cfg.InstanceTypes, n)
		if !ok {
			return nil, &contract.Error{Kind: contract.KindCapacity, Op: "resize", Err: fmt.Errorf("no instance type offers %s", n)}
		}
		if string(in.InstanceType) == it.Name {
			return a.instanceStatus(ctx, res)
		}
		if state != ec2types.InstanceStateNameStopped {
			return nil, &contract.Error{Kind: contract.KindClient, Op: "resize", Status: http.StatusConflict,
				Err: fmt.Errorf("instance is %s: EC2 changes the type of stopped instances only; stop it first", state)}
		}
		_, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId:   &id,
			InstanceType: &ec2types.AttributeValue{Value: &it.Name},
		})
		if err != nil {
			return nil, nativeErr("modify instance attribute", err)
		}
		out.Native[nativeInstanceType] = it.Name
		return a.instanceStatus(ctx, out)
	case action != nil:
		rule, ok := computeActions[*action]
		if !ok {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("compute action %q", *action)}
		}
		act, ok := rule.From[state]
		if *action == csbmsg.ComputeSuspend && state == ec2types.InstanceStateNameStopped && res.Native[nativeHibernated] == "true" {
			act, ok = "", true
		}
		if !ok {
			return nil, &contract.Error{Kind: contract.KindClient, Op: string(*action), Status: http.StatusConflict,
				Err: fmt.Errorf("instance is %s: cannot %s it now", state, *action)}
		}
		ids := []string{id}
		switch act {
		case actStart:
			_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
			delete(out.Native, nativeHibernated)
		case actStop:
			_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
		case actHibernate:
			_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids, Hibernate: sdkaws.Bool(true)})
			out.Native[nativeHibernated] = "true"
		case actReboot:
			_, err = c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids})
		}
		if err != nil {
			return nil, nativeErr(string(act), err)
		}
		out.Native[nativeWant] = string(rule.Target)
		if act == "" {
			return a.instanceStatus(ctx, out)
		}
		out.State = contract.StatePending
		return out, nil
	}
	return a.instanceStatus(ctx, res)
}

// instanceArch is the architecture of instance in ("" if unknown): EC2's
// word, else what the job was granted.
func instanceArch(in *ec2types.Instance, granted *csbmsg.IaaS) string {
	if in.Architecture != "" {
		return string(in.Architecture)
	}
	if granted.Compute != nil && granted.Compute.Architecture != nil {
		return *granted.Compute.Architecture
	}
	return ""
}

// unchangeable refuses an update that names a hostname, an architecture
// or a root storage size other than what the instance was granted: an
// update changes none of them (the Name tag, the AMI, the root volume),
// and the broker records the update's request as done.
func unchangeable(x, granted *csbmsg.IaaS, in *ec2types.Instance) error {
	uns := func(format string, args ...any) error {
		return &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf(format, args...)}
	}
	if c := x.Compute; c != nil {
		if c.Hostname != nil && (granted.Compute == nil || granted.Compute.Hostname == nil || *granted.Compute.Hostname != *c.Hostname) {
			return uns("hostname %q: the instance's Name tag is not changed by an update", *c.Hostname)
		}
		if arch := instanceArch(in, granted); c.Architecture != nil && *c.Architecture != arch {
			return uns("architecture %q: the instance runs %s (its AMI's); an update does not change it", *c.Architecture, arch)
		}
	}
	if s := x.Storage; s != nil && s.Size != nil && (granted.Storage == nil || granted.Storage.Size == nil || *granted.Storage.Size != *s.Size) {
		return uns("storage size %d GB: the root volume is not resized by an update", *s.Size)
	}
	return nil
}

func (a *Adapter) removeInstance(ctx context.Context, res *contract.Resource) error {
	id, token := res.Native[nativeInstanceID], res.Native[nativeClientToken]
	if id == "" && token == "" {
		return nil
	}
	c, err := a.ec2Client(ctx)
	if err != nil {
		return err
	}
	if id == "" {
		// A RunInstances whose answer was lost (unansweredResource):
		// the instance its token launched, if any. A failed lookup
		// fails the removal, which the broker retries.
		inst, err := a.byClientToken(ctx, c, token)
		if err != nil {
			return nativeErr("describe instances", err)
		}
		if inst == nil || dead(inst) {
			return nil
		}
		id = *inst.InstanceId
	}
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	switch {
	case err == nil:
		return nil
	case !isNotFound(err):
		return nativeErr("terminate instances", err)
	case a.unlisted(res):
		// EC2 does not know the id yet, which does not mean the
		// instance will not run: fail, so that the broker tries again.
		return &contract.Error{Kind: contract.KindServer, Op: "terminate instances",
			Err: fmt.Errorf("instance %s, launched moments ago, is not yet known to EC2; its removal must be tried again", id)}
	}
	return nil
}

// discoverInstanceTypes returns the table's types that EC2 offers, with
// EC2's own vCPU and memory figures, as IaaS services.
func (a *Adapter) discoverInstanceTypes(ctx context.Context) ([]csbmsg.Service, error) {
	c, err := a.ec2Client(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(a.cfg.InstanceTypes))
	for i, t := range a.cfg.InstanceTypes {
		names[i] = t.Name
	}
	// The types go in the instance-type filter, not in InstanceTypes:
	// EC2 refuses the whole call (InvalidInstanceType) when InstanceTypes
	// names one the region does not offer (t4g is missing from some
	// regions, a configured table may name a type of another region),
	// which left the provider with no IaaS offer at all. A filter's
	// values only select: what the region lacks is left out.
	var offered []ec2types.InstanceTypeInfo
	p := ec2.NewDescribeInstanceTypesPaginator(c, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{
		{Name: sdkaws.String("instance-type"), Values: names},
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nativeErr("describe instance types", err)
		}
		offered = append(offered, page.InstanceTypes...)
	}
	var out []csbmsg.Service
	for _, t := range a.cfg.InstanceTypes {
		for _, o := range offered {
			if string(o.InstanceType) != t.Name {
				continue
			}
			it := t
			if o.VCpuInfo != nil && o.VCpuInfo.DefaultVCpus != nil {
				it.VCPUs = int(*o.VCpuInfo.DefaultVCpus)
			}
			if o.MemoryInfo != nil && o.MemoryInfo.SizeInMiB != nil {
				it.MemoryMiB = int(*o.MemoryInfo.SizeInMiB)
			}
			svc := csbmsg.Service{
				ID:     "ec2-" + t.Name,
				Status: csbmsg.ServiceActive,
				URI:    a.instanceURI("")[:strings.Index(a.instanceURI(""), "?")],
				IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{
					Cores:  ptr(uint64(it.VCPUs)),
					Memory: ptr(uint64(it.MemoryMiB / 1024)),
				}},
			}
			if it.Architecture != "" {
				svc.IaaS.Compute.Architecture = ptr(it.Architecture)
			}
			out = append(out, svc)
		}
	}
	slices.SortFunc(out, func(x, y csbmsg.Service) int {
		return cmp.Or(cmp.Compare(*x.IaaS.Compute.Cores, *y.IaaS.Compute.Cores), cmp.Compare(*x.IaaS.Compute.Memory, *y.IaaS.Compute.Memory), cmp.Compare(x.ID, y.ID))
	})
	return out, nil
}
