package jobs_test

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestCostGoesOnAfterUnpricedStay: a job that moves to a provider
// without a price costs nothing there, and its cost goes on at the price
// of the provider it moves to next. The stay at the unpriced provider
// made the cost final, as if the job had ended, and a final cost is never
// opened again: moved back to a priced provider, the job ran there for
// nothing, and the quotas counted no committed spend for it.
func TestCostGoesOnAfterUnpricedStay(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 1) // b has no price
	j := e.create("alice", 2).Job
	if j.ProviderID != "a" || j.Cost == nil {
		t.Fatalf("create: %+v", j)
	}
	e.clock.Advance(time.Hour) // 2 at a
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move to b: %+v %v", r, err)
	}
	if c := r.Job.Cost; c == nil || c.Final() {
		t.Fatalf("the job runs at b, but its cost is %+v", c)
	}
	e.clock.Advance(time.Hour) // nothing at b
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "a" {
		t.Fatalf("move back to a: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour) // 2 more at a
	j, _ = e.m.Get(ctx, "alice", j.ID)
	if c := j.Cost; c == nil || c.Final() || c.ProviderID != "a" || c.Price != 1 || c.Rate() != 2 {
		t.Fatalf("the job runs at a again, but its cost is %+v", c)
	}
	if got := j.CostAt(e.clock.Now()); !quotaNear(got, 4) {
		t.Fatalf("cost %v, want 4 (2 at a, nothing at b, 2 at a)", got)
	}
	by := j.Cost.ByProvider(e.clock.Now())
	if !quotaNear(by["a"], 4) || by["b"] != 0 {
		t.Fatalf("by provider %v, want a 4, b 0", by)
	}
	if got := j.Cost.Between(e.clock.Now().Add(-90*time.Minute), e.clock.Now(), e.clock.Now()); !quotaNear(got, 2) {
		t.Fatalf("cost in the last 90 minutes %v, want 2 (30 min at b, 1 h at a)", got)
	}
	// Removed, the cost is final.
	if r, err := e.m.Remove(ctx, "alice", j.ID); err != nil || r.Status != csbmsg.StatusOK || !r.Job.Cost.Final() {
		t.Fatalf("remove: %+v %v", r, err)
	}
}
