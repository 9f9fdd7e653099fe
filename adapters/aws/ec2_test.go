package aws

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func ec2Adapter(t *testing.T, d *ec2Double) *Adapter {
	t.Helper()
	a, err := New(Config{
		Region: "us-east-1", EC2Endpoint: d.srv.URL, Services: []string{"ec2"},
		AccessKeyID: dblAccessKey, SecretAccessKey: dblSecret,
		ImageID: "ami-0abcdef1234567890", ArchImages: map[string]string{"arm64": "ami-0arm", "x86_64": "ami-0abcdef1234567890"},
		KeyName: "csb", SubnetID: "subnet-0123456789abcdef0", SecurityGroupIDs: []string{"sg-0123456789abcdef0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func waitReady(t *testing.T, a *Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	for range 5 {
		raw, _ := json.Marshal(res)
		var back contract.Resource
		json.Unmarshal(raw, &back)
		var err error
		if res, err = a.Status(context.Background(), &back); err != nil {
			t.Fatalf("status: %v", err)
		}
		if res.State != contract.StatePending {
			return res
		}
	}
	t.Fatalf("still pending: %+v", res)
	return nil
}

func TestSmallestInstanceType(t *testing.T) {
	for _, tc := range []struct {
		n    need
		want string
	}{
		{need{}, "t3.nano"},
		{need{cores: 1, memMiB: 1024}, "t3.micro"},
		{need{cores: 2, memMiB: 3 * 1024}, "t3.medium"},
		{need{cores: 3}, "t3.xlarge"},
		{need{memMiB: 20 * 1024}, "t3.2xlarge"},
		{need{cores: 2, memMiB: 1024, arch: "arm64"}, "t4g.micro"},
		{need{cores: 128}, ""},
	} {
		got, ok := smallestType(DefaultInstanceTypes, tc.n)
		if (tc.want == "" && ok) || got.Name != tc.want {
			t.Errorf("%v: %q %v, want %q", tc.n, got.Name, ok, tc.want)
		}
	}
}

// TestEC2Lifecycle runs an instance of the smallest fitting type, polls it
// to running, applies every action, resizes it stopped, and terminates it.
func TestEC2Lifecycle(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	want := adaptertest.IaaS(2, 3, 30)
	host := "web-1"
	want.IaaS.Compute.Hostname = &host
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-ec2", Owner: "alice", Want: want})
	if err != nil {
		t.Fatal(err)
	}
	f := d.lastForm
	if res.State != contract.StatePending || f["InstanceType"][0] != "t3.medium" || f["ClientToken"][0] != "csb-job-ec2" ||
		f["BlockDeviceMapping.1.Ebs.VolumeSize"][0] != "30" || f["KeyName"][0] != "csb" || f["SubnetId"][0] != "subnet-0123456789abcdef0" {
		t.Fatalf("run instances: %+v\nform %v", res, f)
	}
	id := res.Native[nativeInstanceID]
	if tags := d.instance(id).Tags; tags["csb-job"] != "job-ec2" || tags["csb-owner"] != "alice" || tags["Name"] != "web-1" {
		t.Fatalf("tags %v", tags)
	}
	// A retried RunInstances with the same job returns the same instance.
	again, err := a.Provision(ctx, &contract.Request{JobID: "job-ec2", Want: want})
	if err != nil || again.Native[nativeInstanceID] != id || d.inventory() != 1 {
		t.Fatalf("idempotent run: %v %v (inventory %d)", again, err, d.inventory())
	}
	res = waitReady(t, a, res)
	g := res.Granted.IaaS
	if res.State != contract.StateReady || adaptertest.ComputeStatus(res) != csbmsg.ComputeActive || *g.Compute.Cores != 2 || *g.Compute.Memory != 4 ||
		*g.NetworkInterface.IP != "10.0.1.23" || *g.NetworkInterface.MAC != "0e:49:61:0f:c3:11" || *g.Compute.Architecture != "x86_64" {
		t.Fatalf("running: %s %s %+v", res.State, adaptertest.ComputeStatus(res), g.Compute)
	}
	for _, step := range []struct {
		act    csbmsg.ComputeAction
		call   string
		status csbmsg.ComputeStatus
	}{
		{csbmsg.ComputeStop, "StopInstances", csbmsg.ComputeInactive},
		{csbmsg.ComputeStart, "StartInstances", csbmsg.ComputeActive},
		{csbmsg.ComputeRestart, "RebootInstances", csbmsg.ComputeActive},
		{csbmsg.ComputeSuspend, "StopInstances", csbmsg.ComputeSuspended},
		{csbmsg.ComputeStart, "StartInstances", csbmsg.ComputeActive},
	} {
		before := len(d.calls)
		res, err = a.Update(ctx, res, &contract.Request{JobID: "job-ec2", Want: adaptertest.ComputeAction(step.act)})
		if err != nil {
			t.Fatalf("%s: %v", step.act, err)
		}
		if calls := d.calls[before:]; len(calls) != 2 || calls[1] != step.call {
			t.Fatalf("%s: EC2 calls %v, want DescribeInstances %s", step.act, calls, step.call)
		}
		if step.act == csbmsg.ComputeSuspend && d.lastForm["Hibernate"][0] != "true" {
			t.Fatalf("suspend did not hibernate: %v", d.lastForm)
		}
		res = waitReady(t, a, res)
		if adaptertest.ComputeStatus(res) != step.status {
			t.Fatalf("%s: status %s, want %s", step.act, adaptertest.ComputeStatus(res), step.status)
		}
	}
	// Resizing a running instance is refused; stopped, it works.
	_, err = a.Update(ctx, res, &contract.Request{JobID: "job-ec2", Want: adaptertest.IaaS(4, 16, 0)})
	if ae, ok := err.(*contract.Error); !ok || ae.Kind != contract.KindClient || ae.Status != http.StatusConflict {
		t.Fatalf("resize while running: %v", err)
	}
	res, _ = a.Update(ctx, res, &contract.Request{JobID: "job-ec2", Want: adaptertest.ComputeAction(csbmsg.ComputeStop)})
	res = waitReady(t, a, res)
	res, err = a.Update(ctx, res, &contract.Request{JobID: "job-ec2", Want: adaptertest.IaaS(4, 16, 0)})
	if err != nil || d.instance(id).Type != "t3.xlarge" || *res.Granted.IaaS.Compute.Cores != 4 {
		t.Fatalf("resize: %v %s %+v", err, d.instance(id).Type, res.Granted.IaaS)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatal(err)
	}
	if st := waitReady2(t, a, res); st.State != contract.StateGone {
		t.Fatalf("after terminate: %s", st.State)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatalf("second terminate: %v", err)
	}
}

func waitReady2(t *testing.T, a *Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	st, err := a.Status(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEC2Failures(t *testing.T) {
	ctx := context.Background()
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	d.vcpuLimit = 2
	if _, err := a.Provision(ctx, &contract.Request{JobID: "big", Want: adaptertest.IaaS(4, 0, 0)}); contract.KindOf(err) != contract.KindCapacity {
		t.Fatalf("vCPU limit: %v", err)
	}
	if _, err := a.Provision(ctx, &contract.Request{JobID: "huge", Want: adaptertest.IaaS(512, 0, 0)}); contract.KindOf(err) != contract.KindCapacity {
		t.Fatalf("no type fits: %v", err)
	}
	arch := "s390x"
	w := adaptertest.IaaS(1, 0, 0)
	w.IaaS.Compute.Architecture = &arch
	if _, err := a.Provision(ctx, &contract.Request{JobID: "arch", Want: w}); contract.KindOf(err) != contract.KindCapacity {
		t.Fatalf("no type for the architecture: %v", err)
	}
	res, err := a.Provision(ctx, &contract.Request{JobID: "gone", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res.Native[nativeInstanceID] = "i-0000000000000dead"
	// Not an instance launched moments ago, which EC2 may not list yet
	// (TestEC2NewInstanceNotYetVisible).
	delete(res.Native, nativeLaunched)
	if st, err := a.Status(ctx, res); err != nil || st.State != contract.StateGone {
		t.Fatalf("unknown instance: %+v %v", st, err)
	}
	bad, _ := New(Config{EC2Endpoint: d.srv.URL, Services: []string{"ec2"}, AccessKeyID: "AKIDWRONG", SecretAccessKey: "s3cret", ImageID: "ami-1"})
	_, err = bad.Provision(ctx, &contract.Request{JobID: "auth", Want: adaptertest.IaaS(1, 0, 0)})
	if contract.KindOf(err) != contract.KindClient || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad credentials: %v", err)
	}
	s3only, _ := New(Config{Services: []string{"s3"}})
	if _, err := s3only.Provision(ctx, &contract.Request{JobID: "x", Want: adaptertest.IaaS(1, 0, 0)}); contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("ec2 on an s3-only provider: %v", err)
	}
}

// TestConformanceEC2 runs the conformance kit against the EC2 double.
func TestConformanceEC2(t *testing.T) {
	d := newEC2Double(t)
	up := csbmsg.NetworkUp
	snap := csbmsg.StorageActSnapshot
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter { return ec2Adapter(t, d) },
		Cases: []adaptertest.Case{{
			Name: "instance",
			Req:  contract.Request{Want: adaptertest.IaaS(1, 1, 8)},
			Check: func(t testing.TB, res *contract.Resource) {
				if c := res.Granted.IaaS.Compute; *c.Cores != 2 || *c.Memory != 1 {
					t.Errorf("grant %+v (want t3.micro)", c)
				}
			},
			Updates: []adaptertest.Update{
				adaptertest.ActionUpdate(csbmsg.ComputeStop, csbmsg.ComputeInactive),
				{Name: "resize", Req: contract.Request{Want: adaptertest.IaaS(2, 8, 0)}, Check: func(t testing.TB, res *contract.Resource) {
					if c := res.Granted.IaaS.Compute; *c.Memory != 8 {
						t.Errorf("grant after resize %+v", c)
					}
				}},
				adaptertest.ActionUpdate(csbmsg.ComputeStart, csbmsg.ComputeActive),
				adaptertest.ActionUpdate(csbmsg.ComputeRestart, csbmsg.ComputeActive),
				adaptertest.ActionUpdate(csbmsg.ComputeSuspend, csbmsg.ComputeSuspended),
			},
		}},
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Action: &up}}}},
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: &snap}}}},
			{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}}, // this provider offers EC2 only
		},
		Fault:     d.applyFault,
		Inventory: d.inventory,
	})
}

// TestEC2Front lets a job's owner describe and power its instance through
// the Query API, re-signed with the provider's key, and nothing else.
func TestEC2Front(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "fr", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	id := res.Native[nativeInstanceID]
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "Authorization",
		Credential: "AWS4-HMAC-SHA256 Credential=CONSUMERKEY/20261122/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	send := func(v url.Values) (int, string, error) {
		resp, body, err := fc.Do("POST", "/", form, v.Encode())
		if err != nil {
			return 0, "", err
		}
		return resp.StatusCode, body, nil
	}
	code, body, err := send(url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {id}})
	if err != nil || code != 200 || !strings.Contains(body, id) {
		t.Fatalf("describe: %d %v %s", code, err, body)
	}
	code, _, err = send(url.Values{"Action": {"StopInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {id}})
	if err != nil || code != 200 || d.instance(id).State != "stopping" {
		t.Fatalf("stop: %d %v %s", code, err, d.instance(id).State)
	}
	fc.Refuses([]adaptertest.Refusal{
		{Method: "POST", Target: "/", Header: form, Body: url.Values{"Action": {"TerminateInstances"}, "InstanceId.1": {id}}.Encode(), Kind: contract.KindClient},
		{Method: "POST", Target: "/", Header: form, Body: url.Values{"Action": {"RunInstances"}, "ImageId": {"ami-1"}}.Encode(), Kind: contract.KindClient},
		{Method: "POST", Target: "/", Header: form, Body: url.Values{"Action": {"DescribeInstances"}}.Encode(), Kind: contract.KindClient},
		{Method: "POST", Target: "/", Header: form, Body: url.Values{"Action": {"DescribeInstances"}, "InstanceId.1": {id}, "Filter.1.Name": {"tag:x"}}.Encode(), Kind: contract.KindClient},
		{Method: "POST", Target: "/", Header: form, Body: url.Values{"Action": {"StopInstances"}, "InstanceId.1": {id}, "InstanceId.2": {"i-0other"}}.Encode(), Kind: contract.KindNotFound},
	})
}
