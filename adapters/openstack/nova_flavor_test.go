package openstack

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestNovaFlavorDeletedUnderRunningServer: operators retire a flavor by
// deleting it; Nova keeps the flavor id on the servers built from it,
// which run on, and GET /flavors/{id} answers 404. Status read that 404
// as not_found, which tells the broker the job's resource is gone: the
// resource check failed every job on the flavor and left its server
// running, nobody's, and an update (a resize) of such a job failed the
// same way. The server is there: Status reports it with the sizes the
// job was granted, and a resize starts from them.
func TestNovaFlavorDeletedUnderRunningServer(t *testing.T) {
	d := newDouble(t)
	a := novaAdapter(t, d)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-retired", Want: adaptertest.IaaS(1, 2, 20)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	fid := res.Native[nativeFlavorID]
	if res.State != contract.StateReady || fid != "2" {
		t.Fatalf("server %s on flavor %q, want ready on m1.small (2)", res.State, fid)
	}
	d.mu.Lock()
	d.deletedFlavors = map[string]bool{fid: true}
	d.mu.Unlock()

	st, err := a.Status(ctx, res)
	if err != nil || st.State != contract.StateReady {
		t.Fatalf("status of a server whose flavor was deleted: %v, %v (kind %q); want ready", st, err, contract.KindOf(err))
	}
	if g := st.Granted.IaaS; *g.Compute.Cores != 1 || *g.Compute.Memory != 2 || *g.Storage.Size != 20 || st.Native[nativeFlavorID] != fid {
		t.Fatalf("grant %+v %+v flavor %s: want the job's 1 vCPU, 2 GB, 20 GB on flavor %s", g.Compute, g.Storage, st.Native[nativeFlavorID], fid)
	}
	// A resize to 2 vCPUs keeps the memory and disk the server has:
	// m1.medium (3), which is still offered.
	up, err := a.Update(ctx, st, &contract.Request{JobID: "job-retired", Want: adaptertest.IaaS(2, 0, 0)})
	if err != nil {
		t.Fatalf("resize of a server whose flavor was deleted: %v", err)
	}
	if up.Native[nativeFlavorID] != "3" {
		t.Fatalf("resized to flavor %s, want 3 (m1.medium)", up.Native[nativeFlavorID])
	}
}
