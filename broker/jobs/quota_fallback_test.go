package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// TestQuotaFallbackFitsBudget: admission priced a create at its first
// provider only; when that provider failed, the job fell back to the next
// of its plan, dearer, and spent past the limit. A provider whose price
// for the lease does not fit what the quota leaves is dropped from the
// plan at admission, and the decision says so; one that fits is still
// tried. While the job is in flight the quotas count it at the highest
// price of its plan (what it may cost), so a create at the same time does
// not take the room its fallback needs.
func TestQuotaFallbackFitsBudget(t *testing.T) {
	e := newEnv(t, []string{"a", "b", "c"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Spend: []quota.Spend{{Amount: 5, Period: quota.Day}}}}}
	})
	// 2 cores for 1 h: 2 at a, 6 at b (over 5), 4 at c.
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	quotaPrice(e, "c", 2)
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("full")})
	block, started := make(chan struct{}), make(chan struct{})
	e.ads["c"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	created := make(chan *jobs.Result, 1)
	go func() {
		r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(2, 1), jobs.CreateOptions{Lease: time.Hour})
		if err != nil {
			t.Error(err)
		}
		created <- r
	}()
	select {
	case <-started:
	case r := <-created:
		t.Fatalf("create finished without trying c: %+v", r)
	}
	// At c now, after a failed: counted at c's 4, not a's 2.
	qc, err := e.m.CheckQuota(ctx, "alice", jobstest.VMRequest(1, 1), ptrTo(1.5), time.Hour)
	if err != nil || qc.Refusal == nil || !strings.Contains(qc.Refusal.Reason, "4 spent or committed this day") {
		t.Fatalf("a create while the job is in flight: %+v %v; want refused with the job counted at 4", qc, err)
	}
	close(block)
	r := <-created
	if r == nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "c" {
		t.Fatalf("create: %+v; want placed at c after a failed", r)
	}
	if n := e.ads["b"].Calls("provision"); n != 0 {
		t.Fatalf("b, over the spend limit, was tried %d times", n)
	}
	if !strings.Contains(r.Job.Decision, "dropped from the plan, over a quota at their price: b (quota exceeded: spend per day limit of user alice") {
		t.Fatalf("the decision does not say b was dropped: %q", r.Job.Decision)
	}
	for _, p := range r.Job.Plan {
		if p.ProviderID == "b" {
			t.Fatalf("b still in the plan: %+v", r.Job.Plan)
		}
	}

	// Alice has 1 left: a 30 min lease fits at a (1), not at b or c (3,
	// 2). a fails, and nothing else is tried: the create fails, though
	// b and c would have provisioned it.
	e.ads["c"].SetFault(jobstest.Fault{})
	tried := e.ads["b"].Calls("provision") + e.ads["c"].Calls("provision")
	r = quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: 30 * time.Minute})
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job == nil || len(r.Job.Attempts) != 1 ||
		e.ads["b"].Calls("provision")+e.ads["c"].Calls("provision") != tried {
		t.Fatalf("alice's second create: %+v; want a tried alone", r)
	}
}
