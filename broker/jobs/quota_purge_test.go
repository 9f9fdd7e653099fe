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

// TestQuotaSpendOutlivesPurge: what a job cost still counts against its
// owner's spend limit for the rest of the period after the job's record
// is purged. The spend was read from the job records alone: a removed
// job's record goes after the retention (24 h by default) and a failed
// one's after RetainFailed (1 h), and with it what the job had cost, so a
// consumer at its monthly limit spent it again a day later.
func TestQuotaSpendOutlivesPurge(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{
			Users:  map[string]quota.Limits{"alice": {Spend: []quota.Spend{{Amount: 10, Period: quota.Month}}}},
			Groups: []quota.Group{{Name: "team", Members: []string{"alice", "bob"}, Limits: quota.Limits{Spend: []quota.Spend{{Amount: 100, Period: quota.Day}}}}},
		}
	})
	quotaPrice(e, "a", 1)
	// 2 cores × 1 × 1 h, removed after its hour: 2 spent.
	removed := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: 2 * time.Hour}).Job
	// 2 cores for 1 h, then its resource vanishes: 2 spent, the job failed.
	vanished := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: 2 * time.Hour}).Job
	if removed == nil || vanished == nil {
		t.Fatal("creates refused")
	}
	e.clock.Advance(time.Hour)
	if r, err := e.m.Remove(ctx, "alice", removed.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	if err := e.ads["a"].Remove(context.Background(), vanished.Resource); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.CheckOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.m.Get(ctx, "alice", vanished.ID); j.Status != jobs.StatusFailed || !j.Cost.Final() {
		t.Fatalf("vanished job: %s %+v", j.Status, j.Cost)
	}
	// 4 spent this month: a request that costs 7 goes over 10.
	over := func(when string) {
		t.Helper()
		qc, err := e.m.CheckQuota(ctx, "alice", jobstest.VMRequest(7, 1), ptrTo(1.0), time.Hour)
		if err != nil || qc.Refusal == nil || qc.Refusal.Limit != "spend per month" || !quotaNear(qc.Refusal.Have, 4) {
			t.Fatalf("%s: a request for 7 with 4 spent of 10: %+v %v", when, qc, err)
		}
	}
	over("before the purge")
	// Both records are purged a day later (the failed one after 1 h).
	e.clock.Advance(25 * time.Hour)
	if st, err := e.m.ReapOnce(ctx); err != nil || st.Purged != 2 {
		t.Fatalf("reap: %+v %v", st, err)
	}
	for _, id := range []string{removed.ID, vanished.ID} {
		if _, err := e.m.Get(ctx, "alice", id); !errors.Is(err, jobs.ErrNoJob) {
			t.Fatalf("job %s not purged: %v", id, err)
		}
	}
	over("after the purge")
	r := quotaCreate(t, e.m, "alice", 7, jobs.CreateOptions{Lease: time.Hour})
	if r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "spend per month limit of user alice: 10 at most; 4 spent or committed this month") {
		t.Fatalf("create after the purge: %+v", r)
	}
	// The day's spend of the group started anew: yesterday's does not
	// count today.
	qc, err := e.m.CheckQuota(ctx, "bob", jobstest.VMRequest(8, 1), ptrTo(1.0), 12*time.Hour+15*time.Minute)
	if err != nil || qc.Refusal != nil {
		t.Fatalf("bob, 98 of the team's 100 today: %+v %v", qc, err)
	}
	// Next month, the spend starts anew.
	e.clock.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
	qc, err = e.m.CheckQuota(ctx, "alice", jobstest.VMRequest(7, 1), ptrTo(1.0), time.Hour)
	if err != nil || qc.Refusal != nil {
		t.Fatalf("next month: %+v %v", qc, err)
	}
}
