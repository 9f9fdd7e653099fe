package csbosb

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestOSBResumedProvisionAdoptsItsJob: a provision whose first
// attempt created the job but stopped before recording it (a crash, or a
// cluster member that went away) is resumed by a poll; when no provider
// could take a new instance of the plan by then, the resumed provision
// still finds the job the first attempt made (its idempotency key), so
// the instance is provisioned, not reported failed while its job holds
// resources nothing will ever remove.
func TestOSBResumedProvisionAdoptsItsJob(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	resume := r.pauseWork()
	code, first := r.do(http.MethodPut, path, alice, r.provisionBody("small", ""))
	if code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, first)
	}
	// The first attempt's create, as startProvision makes it, whose
	// outcome was never recorded on the instance.
	key := instanceKey("platform", "i1")
	rec, err := r.h.broker.rec.loadInstance(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	p := r.h.broker.view().plans[rec.PlanID]
	res, err := r.app.JobManager().Create(context.Background(), rec.Owner, p.request(params{}),
		jobs.CreateOptions{IdempotencyKey: "osb/" + key + "/" + rec.Op.ID, Access: placementAccess([]string{"p1"})})
	if err != nil || res.Job == nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	resume()
	state, desc := r.wait("i1", alice)
	if state != "succeeded" {
		t.Fatalf("resumed provision %s: %s", state, desc)
	}
	rec, err = r.h.broker.rec.loadInstance(context.Background(), key)
	if err != nil || rec.JobID != res.Job.ID {
		t.Fatalf("instance's job %q (%v), want the first attempt's %s", rec.JobID, err, res.Job.ID)
	}
}

// TestOSBResumedProvisionOfAVanishedPlan: as
// TestOSBResumedProvisionAdoptsItsJob, for a plan derived from a
// provider's offer, which leaves the catalogue while the provider is
// marked unhealthy: the resumed provision still adopts the job its first
// attempt made instead of failing because the plan is gone.
func TestOSBResumedProvisionOfAVanishedPlan(t *testing.T) {
	r := startOSBRig(t, nil)
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	resume := r.pauseWork()
	code, first := r.do(http.MethodPut, path, alice, r.provisionBody("p1-vm-p1", ""))
	if code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, first)
	}
	key := instanceKey("platform", "i1")
	rec, err := r.h.broker.rec.loadInstance(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	p := r.h.broker.view().plans[rec.PlanID]
	res, err := r.app.JobManager().Create(context.Background(), rec.Owner, p.request(params{}),
		jobs.CreateOptions{IdempotencyKey: "osb/" + key + "/" + rec.Op.ID, Access: placementAccess([]string{"p1"})})
	if err != nil || res.Job == nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	if _, ok := r.h.broker.view().plans[rec.PlanID]; ok {
		t.Fatal("the derived plan is still in the catalogue")
	}
	resume()
	state, desc := r.wait("i1", alice)
	if state != "succeeded" {
		t.Fatalf("resumed provision %s: %s", state, desc)
	}
	rec, err = r.h.broker.rec.loadInstance(context.Background(), key)
	if err != nil || rec.JobID != res.Job.ID {
		t.Fatalf("instance's job %q (%v), want the first attempt's %s", rec.JobID, err, res.Job.ID)
	}
}

// TestOSBFailedResumeSettles: a resumed provision that fails because
// its plan left the catalogue (no job was made) is recorded as failed,
// not only answered so, so that the platform's DELETE that follows is
// accepted instead of refused with ConcurrencyError for as long as the
// plan stays away.
func TestOSBFailedResumeSettles(t *testing.T) {
	r := startOSBRig(t, nil)
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	resume := r.pauseWork()
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("p1-vm-p1", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	resume()
	if state, desc := r.wait("i1", alice); state != "failed" {
		t.Fatalf("resumed provision %s: %s, want failed", state, desc)
	}
	sid, pid := r.ids("p1-vm-p1")
	if code, body := r.do(http.MethodDelete, path+"&service_id="+sid+"&plan_id="+pid, alice, ""); code != http.StatusAccepted {
		t.Fatalf("deprovision after the failed provision: %d %v, want 202", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("deprovision %s: %s", state, desc)
	}
}
