package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// pendingUpdate is a test adapter whose updates go through but whose
// result cannot be read yet: Update answers the resource pending, as
// the OCCI, CDMI and CIMI adapters do when the read after the change
// fails, and OpenStack's after a resize.
type pendingUpdate struct{ *jobstest.Adapter }

func (a pendingUpdate) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	out, err := a.Adapter.Update(ctx, res, req)
	if out != nil {
		out.State = contract.StatePending
	}
	return out, err
}

// TestCheckRecordsWhatAPendingUpdateCameTo: a successful job whose
// update left its resource recorded pending kept that state for good:
// the resource check only looked for a vanished resource. The check
// (the pass, and the read-started one) now records the provider's
// answer once it is no longer pending.
func TestCheckRecordsWhatAPendingUpdateCameTo(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.CheckInterval = 10 * time.Minute
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return ad, ok
			}
			return pendingUpdate{ad.(*jobstest.Adapter)}, true
		}
	})
	j := e.create("alice", 2).Job
	if j == nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", j)
	}
	if r, err := e.m.Update(context.Background(), "alice", j.ID, jobstest.VMRequest(4, 1), 0); err != nil || r.Job == nil || r.Job.Resource.State != contract.StatePending {
		t.Fatalf("update: %+v %v, want the resource recorded pending", r, err)
	}
	e.clock.Advance(20 * time.Minute)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 || st.Gone != 0 {
		t.Fatalf("pass: %+v %v", st, err)
	}
	got, err := e.m.Inspect(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Resource.State != contract.StateReady {
		t.Fatalf("after the check the resource is %s, want ready (what the provider answers)", got.Resource.State)
	}
	if c := got.Resource.Granted.IaaS.Compute; c == nil || c.Cores == nil || *c.Cores != 4 {
		t.Fatalf("granted after the check: %+v", got.Resource.Granted.IaaS)
	}
}
