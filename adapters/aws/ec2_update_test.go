package aws

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestEC2UpdateKeepsWhatItDoesNotName: the broker hands Update the
// update's own elements (it records the request merged with the job's),
// so an update naming only memory leaves cores and architecture as they
// are. The instance type was chosen from the named sizes alone: asking
// an arm64 instance for more memory picked the x86_64 type of the same
// size (t3 sorts before t4g), and asking for less memory halved the
// vCPUs the job still records. And an update naming a storage size, a
// hostname or an architecture the instance does not have answered
// success having changed nothing; it is refused.
func TestEC2UpdateKeepsWhatItDoesNotName(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	want := adaptertest.IaaS(4, 16, 30)
	arm := "arm64"
	want.IaaS.Compute.Architecture = &arm
	host := "web-1"
	want.IaaS.Compute.Hostname = &host
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-upd", Want: want})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Native[nativeInstanceID]
	if d.instance(id).Type != "t4g.xlarge" {
		t.Fatalf("provisioned %s, want t4g.xlarge", d.instance(id).Type)
	}
	res = waitReady(t, a, res)
	res, err = a.Update(ctx, res, &contract.Request{JobID: "job-upd", Want: adaptertest.ComputeAction(csbmsg.ComputeStop)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	update := func(w csbmsg.ServiceRequest) (*contract.Resource, error) {
		t.Helper()
		return a.Update(ctx, res, &contract.Request{JobID: "job-upd", Want: w})
	}

	// More memory: the arm64 type with it, not the x86_64 one.
	res, err = update(adaptertest.IaaS(0, 32, 0))
	if err != nil || d.instance(id).Type != "t4g.2xlarge" {
		t.Fatalf("memory 32 GB: %v, type %s, want t4g.2xlarge", err, d.instance(id).Type)
	}
	// Less memory: the 8 vCPUs stay.
	res, err = update(adaptertest.IaaS(0, 2, 0))
	if err != nil || d.instance(id).Type != "t4g.2xlarge" || *res.Granted.IaaS.Compute.Cores != 8 {
		t.Fatalf("memory 2 GB: %v, type %s, want t4g.2xlarge kept", err, d.instance(id).Type)
	}
	// The same storage size, hostname and architecture are no change.
	same := adaptertest.IaaS(0, 0, 30)
	same.IaaS.Compute.Hostname, same.IaaS.Compute.Architecture = &host, &arm
	if _, err := update(same); err != nil {
		t.Fatalf("update naming what the job has: %v", err)
	}
	// What the adapter cannot change is refused, not dropped.
	other, x86 := "web-2", "x86_64"
	for name, w := range map[string]csbmsg.ServiceRequest{
		"storage size": adaptertest.IaaS(0, 0, 60),
		"hostname":     {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Hostname: &other}}},
		"architecture": {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: &x86}}},
	} {
		if _, err := update(w); contract.KindOf(err) != contract.KindUnsupported {
			t.Errorf("update of the %s: %v, want unsupported", name, err)
		}
	}
	if d.instance(id).Type != "t4g.2xlarge" {
		t.Fatalf("type %s after refused updates", d.instance(id).Type)
	}
}

// TestEC2JobInstanceIsThisProviders: two providers may front the same
// account and region (other subnets, images or instance types). A move
// hands the job to the other provider with the same job id, then removes
// the original. RunInstances with the job's client token at the other
// provider handed back the original's instance (or, with other
// parameters, failed with IdempotentParameterMismatch), and Find there
// claimed it: the move's removal of the original then terminated the
// instance the job pointed at. The token and the csb-provider tag name
// the provider.
func TestEC2JobInstanceIsThisProviders(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	first, err := a.Provision(ctx, &contract.Request{JobID: "job-moved", ProviderID: "aws-a", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	req := &contract.Request{JobID: "job-moved", ProviderID: "aws-b", Want: adaptertest.IaaS(1, 0, 0)}
	if found, err := a.Find(ctx, req); err != nil || found != nil {
		t.Fatalf("Find at the other provider: %+v %v, want nothing", found, err)
	}
	second, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.Native[nativeInstanceID] == first.Native[nativeInstanceID] || d.inventory() != 2 {
		t.Fatalf("the other provider's Provision got instance %s of the first (inventory %d)", second.Native[nativeInstanceID], d.inventory())
	}
	if tags := d.instance(second.Native[nativeInstanceID]).Tags; tags["csb-provider"] != "aws-b" {
		t.Fatalf("tags %v, want csb-provider aws-b", tags)
	}
	// Retried at its provider, Provision still gets its own instance.
	again, err := a.Provision(ctx, req)
	if err != nil || again.Native[nativeInstanceID] != second.Native[nativeInstanceID] {
		t.Fatalf("retried provisioning: %v %v", again, err)
	}
	if err := a.Remove(ctx, first); err != nil {
		t.Fatal(err)
	}
	if found, err := a.Find(ctx, req); err != nil || found == nil || found.Native[nativeInstanceID] != second.Native[nativeInstanceID] {
		t.Fatalf("Find at its own provider: %+v %v", found, err)
	}
	if st := waitReady(t, a, second); st.State != contract.StateReady {
		t.Fatalf("the moved job's instance after the original's removal: %s", st.State)
	}
}
