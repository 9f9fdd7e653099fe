package openstack

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestNovaUpdateKeepsWhatItDoesNotName: the broker hands Update the
// update's own elements (it records the request merged with the job's),
// so an update naming only memory leaves the vCPUs and the disk as they
// are. The flavor was chosen from the named sizes alone: asking an
// m1.large server (4 vCPUs, 8 GB, 80 GB) for 4 GB resized it to
// m1.medium, halving the vCPUs the job still records and shrinking the
// disk, which Nova refuses to do. And an update naming another hostname
// or an architecture of another image answered success having changed
// nothing; it is refused.
func TestNovaUpdateKeepsWhatItDoesNotName(t *testing.T) {
	d := newDouble(t)
	cfg := passwordConfig(d)
	cfg.ArchImages = map[string]string{"x86_64": cfg.Image, "aarch64": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"}
	a := mustNew(t, cfg)
	ctx := context.Background()
	want := adaptertest.IaaS(4, 8, 80)
	x86 := "x86_64"
	want.IaaS.Compute.Architecture = &x86
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-upd", Want: want})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	if res.Native[nativeFlavorID] != "4" {
		t.Fatalf("flavor %s, want 4 (m1.large)", res.Native[nativeFlavorID])
	}
	before := len(d.actions)
	res = update(t, a, res, adaptertest.IaaS(0, 4, 0))
	for _, act := range d.actions[before:] {
		if strings.HasPrefix(act, "resize") {
			t.Fatalf("an update of memory alone to 4 GB sent %s; the server's 4 vCPUs and 80 GB disk must stay", act)
		}
	}
	if g := res.Granted.IaaS; *g.Compute.Cores != 4 || *g.Storage.Size != 80 {
		t.Fatalf("grant after a memory update: %+v %+v", g.Compute, g.Storage)
	}
	// More vCPUs than m1.large has: nothing fits (the memory and disk
	// stay at least the server's).
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-upd", Want: adaptertest.IaaS(5, 0, 0)}); contract.KindOf(err) != contract.KindCapacity {
		t.Fatalf("5 vCPUs: %v, want capacity", err)
	}
	// The same hostname and architecture are no change.
	same := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Hostname: s(d.server(res.Native[nativeServerID]).Name), Architecture: &x86}}}
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-upd", Want: same}); err != nil {
		t.Fatalf("update naming what the server has: %v", err)
	}
	for name, w := range map[string]csbmsg.ServiceRequest{
		"hostname":     {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Hostname: s("web-2")}}},
		"architecture": {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: s("aarch64")}}},
	} {
		if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-upd", Want: w}); contract.KindOf(err) != contract.KindUnsupported {
			t.Errorf("update of the %s: %v, want unsupported", name, err)
		}
	}
}
