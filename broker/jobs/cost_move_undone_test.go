package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestQuotaMoveUndoneKeepsCost: a move whose new resource was made but
// whose original could not be removed is undone, and the job stays,
// successful, at its original provider. Its cost must go on at the
// original price. The undo puts the job back at a provider its new plan
// (the move's candidates, which exclude it) does not name, and the cost's
// current stretch is the new provider's, so the cost found nothing priced
// held and became final: the job cost nothing from then on, and the
// quotas no longer counted its committed spend.
func TestQuotaMoveUndoneKeepsCost(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	j := e.create("alice", 2).Job
	if j.ProviderID != "a" {
		t.Fatalf("placed at %s, want a", j.ProviderID)
	}
	e.clock.Advance(time.Hour)
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "a" || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("move: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour)
	j, _ = e.m.Get(ctx, "alice", j.ID)
	if j.Cost == nil || j.Cost.Final() {
		t.Fatalf("the job is at a, successful, but its cost is %+v", j.Cost)
	}
	if j.Cost.ProviderID != "a" || j.Cost.Price != 1 {
		t.Fatalf("cost stretch at %s price %v, want a at 1", j.Cost.ProviderID, j.Cost.Price)
	}
	// 2 cores × 1 for the first hour and the hour after the undo.
	if got := j.CostAt(e.clock.Now()); !quotaNear(got, 4) {
		t.Fatalf("cost %v, want 4", got)
	}
}
