package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// i17MoreReporter is a test adapter that honours only cores and memory.
type i17MoreReporter struct{ *jobstest.Adapter }

func (i17MoreReporter) HonouredFields() contract.FieldSet {
	return contract.Fields("IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory")
}

// i17MoreUpdateEnv: provider a, whose adapter declares its honoured set,
// with one successful 2-core job of alice.
func i17MoreUpdateEnv(t *testing.T, ignore bool) (*env, *jobs.Job) {
	t.Helper()
	var e *env
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.IgnoreUnhonoured = ignore
		c.Adapter = func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			return i17MoreReporter{a}, ok
		}
	})
	r := e.create("alice", 2)
	if r.Status != csbmsg.StatusOK {
		t.Fatalf("create: %+v", r)
	}
	return e, e.waitJob(e.m, "alice", r.Job.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
}

func i17MoreHostUpdate(cores uint64) *csbmsg.ServiceRequest {
	req := jobstest.VMRequest(cores, 1)
	host := "web1"
	req.IaaS.Compute.Hostname = &host
	return req
}

// TestUpdateRefusesUnhonouredField: an update setting a field the job's
// adapter does not honour is refused with 420 naming it, and nothing is
// sent to the provider; an update of honoured fields still applies.
func TestUpdateRefusesUnhonouredField(t *testing.T) {
	e, j := i17MoreUpdateEnv(t, false)
	ctx := context.Background()
	r, err := e.m.Update(ctx, "alice", j.ID, i17MoreHostUpdate(4), 0)
	if err != nil || r.Status != csbmsg.StatusUnsupported || !strings.Contains(r.Reason, "unsupported element IaaS/compute/hostname") {
		t.Fatalf("hostname update: %v %+v", err, r)
	}
	if n := e.ads["a"].Calls("update"); n != 0 {
		t.Fatalf("%d adapter updates, want none", n)
	}
	got, _ := e.m.Get(ctx, "alice", j.ID)
	if c := got.Request.IaaS.Compute; *c.Cores != 2 || c.Hostname != nil {
		t.Fatalf("job changed: %+v", c)
	}
	r, err = e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(4, 1), 0)
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("cores update: %v %+v", err, r)
	}
}

// TestUpdateIgnoresUnhonouredField: under unhonoured_fields ignore the
// same update applies and the job records the ignored field.
func TestUpdateIgnoresUnhonouredField(t *testing.T) {
	e, j := i17MoreUpdateEnv(t, true)
	r, err := e.m.Update(context.Background(), "alice", j.ID, i17MoreHostUpdate(4), 0)
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("%v %+v", err, r)
	}
	if !slices.Equal(r.Job.Ignored, []string{"IaaS/compute/hostname"}) || !strings.Contains(r.Job.Reason, "ignored fields its adapter does not honour: IaaS/compute/hostname") {
		t.Fatalf("job %+v", r.Job)
	}
}

// TestCopyMoveUnhonouredIs420: COPY and MOVE answer a placement that only
// unhonoured fields kept from every other provider as a create does, 420
// naming the field, not 408.
func TestCopyMoveUnhonouredIs420(t *testing.T) {
	e := honouredEnv(t, false) // b honours compute/hostname, a does not
	ctx := context.Background()
	req := jobstest.VMRequest(2, 1)
	host := "web1"
	req.IaaS.Compute.Hostname = &host
	r, err := e.m.Create(ctx, "alice", req, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("create: %v %+v", err, r)
	}
	j := e.waitJob(e.m, "alice", r.Job.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	r, err = e.m.Copy(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusUnsupported || !strings.Contains(r.Reason, "cannot copy job "+j.ID+": unsupported element IaaS/compute/hostname") {
		t.Fatalf("copy: %v %+v", err, r)
	}
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusUnsupported || !strings.Contains(r.Reason, "cannot move job "+j.ID+": unsupported element IaaS/compute/hostname") || r.Job == nil || r.Job.ProviderID != "b" {
		t.Fatalf("move: %v %+v", err, r)
	}
}
