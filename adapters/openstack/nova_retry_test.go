package openstack

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestNovaCreateAnswerLost: Nova has no idempotency token, and a server
// create whose answer is lost (a cut connection, the attempt's
// deadline) may have made the server all the same. Provision returned
// no Resource then, so the broker removed nothing: the server was left
// running at the provider. And the broker's next Provision of the job
// at the same provider (the plan's next flavor of it, or the retry
// after an interrupted attempt) made a second server. Now the failed
// Provision returns a Resource whose Remove finds the job's server by
// name and csb-job metadata and deletes it, and a Provision first looks
// for the job's server and takes it instead of making another.
func TestNovaCreateAnswerLost(t *testing.T) {
	ctx := context.Background()
	t.Run("removed", func(t *testing.T) {
		d := newDouble(t)
		a := novaAdapter(t, d)
		d.loseCreates = 1
		res, err := a.Provision(ctx, &contract.Request{JobID: "job-lost", Want: adaptertest.IaaS(1, 0, 0)})
		if err == nil {
			t.Fatal("provision succeeded without Nova's answer")
		}
		if d.inventory() != 1 {
			t.Fatalf("inventory %d, want the server Nova made", d.inventory())
		}
		if res == nil {
			t.Fatalf("provision failed (%v) with no Resource: the server Nova made is left behind", err)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Fatal(err)
		}
		if d.inventory() != 0 {
			t.Fatalf("inventory %d after Remove, want 0", d.inventory())
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Fatalf("second remove: %v", err)
		}
		if st := status(t, a, res); st.State != contract.StateGone {
			t.Fatalf("status after remove: %s", st.State)
		}
	})
	t.Run("retried", func(t *testing.T) {
		d := newDouble(t)
		a := novaAdapter(t, d)
		d.loseCreates = 1
		req := &contract.Request{JobID: "job-lost", Want: adaptertest.IaaS(1, 0, 0)}
		if _, err := a.Provision(ctx, req); err == nil {
			t.Fatal("provision succeeded without Nova's answer")
		}
		res, err := a.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n := d.inventory(); n != 1 {
			t.Fatalf("%d servers for one job after a retried Provision, want 1", n)
		}
		if res = waitReady(t, a, res); res.State != contract.StateReady {
			t.Fatalf("adopted server: %s", res.State)
		}
		// Another job's Provision is not given this job's server.
		other, err := a.Provision(ctx, &contract.Request{JobID: "job-other", Want: adaptertest.IaaS(1, 0, 0)})
		if err != nil || other.Native[nativeServerID] == res.Native[nativeServerID] || d.inventory() != 2 {
			t.Fatalf("another job: %v %v (inventory %d)", other, err, d.inventory())
		}
	})
}

// TestNovaJobServerIsThisProviders: two providers may front the same
// project (other images, networks or flavors for other services). A
// move hands the job to the other provider with the same job id, then
// removes the original. Provision (and Find) must not take the original
// provider's server for the job: the move's removal of the original
// would delete the server the job now points at. Servers carry the
// provider in their csb-provider metadata.
func TestNovaJobServerIsThisProviders(t *testing.T) {
	ctx := context.Background()
	d := newDouble(t)
	a := novaAdapter(t, d)
	first, err := a.Provision(ctx, &contract.Request{JobID: "job-moved", ProviderID: "os-a", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	req := &contract.Request{JobID: "job-moved", ProviderID: "os-b", Want: adaptertest.IaaS(1, 0, 0)}
	if found, err := a.Find(ctx, req); err != nil || found != nil {
		t.Fatalf("Find at the other provider: %+v %v, want nothing", found, err)
	}
	second, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.Native[nativeServerID] == first.Native[nativeServerID] || d.inventory() != 2 {
		t.Fatalf("the other provider's Provision took server %s of the first (inventory %d)", second.Native[nativeServerID], d.inventory())
	}
	if err := a.Remove(ctx, first); err != nil {
		t.Fatal(err)
	}
	if st := waitReady(t, a, second); st.State != contract.StateReady {
		t.Fatalf("the moved job's server after the original's removal: %s", st.State)
	}
	if found, err := a.Find(ctx, req); err != nil || found == nil || found.Native[nativeServerID] != second.Native[nativeServerID] {
		t.Fatalf("Find at its own provider: %+v %v", found, err)
	}
	// A server made before servers carried the provider is still found.
	d.mu.Lock()
	if d.servers[second.Native[nativeServerID]].Metadata["csb-provider"] != "os-b" {
		t.Errorf("server metadata %v, want csb-provider os-b", d.servers[second.Native[nativeServerID]].Metadata)
	}
	delete(d.servers[second.Native[nativeServerID]].Metadata, "csb-provider")
	d.mu.Unlock()
	if found, err := a.Find(ctx, req); err != nil || found == nil || found.Native[nativeServerID] != second.Native[nativeServerID] {
		t.Fatalf("Find of a server without csb-provider: %+v %v", found, err)
	}
}
