package jobs_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// quotaPrice gives provider id the notification label "price:<p>".
func quotaPrice(e *env, id string, p float64) {
	e.cat.AddProvider(catalog.ProviderEntry{ID: id, Label: fmt.Sprintf("price:%g", p)})
}

func quotaCreate(t *testing.T, m *jobs.Manager, owner string, cores uint64, opt jobs.CreateOptions) *jobs.Result {
	t.Helper()
	r, err := m.Create(context.Background(), owner, jobstest.VMRequest(cores, 1), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func quotaNear(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestQuotaCostAccruesAndIsFinal: a job costs price × cores × hours held,
// at the new rate after a resize, and its cost stops when it is removed.
func TestQuotaCostAccruesAndIsFinal(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	quotaPrice(e, "a", 0.5)
	r := e.create("alice", 4)
	if r.Status != csbmsg.StatusOK || r.Job.Cost == nil {
		t.Fatalf("create: %+v", r)
	}
	c := r.Job.Cost
	if c.ProviderID != "a" || c.Price != 0.5 || c.Unit != quota.UnitCore || c.Units != 4 || c.Final() {
		t.Fatalf("cost %+v", c)
	}
	e.clock.Advance(30 * time.Minute)
	j, _ := e.m.Get(ctx, "alice", r.Job.ID)
	if got := j.CostAt(e.clock.Now()); !quotaNear(got, 1) { // 0.5 × 4 × 0.5 h
		t.Fatalf("after 30m: %v, want 1", got)
	}
	// Resize to 8 cores: the next hour costs 0.5 × 8.
	u, err := e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(8, 1), 0)
	if err != nil || u.Status != csbmsg.StatusOK {
		t.Fatalf("update: %+v %v", u, err)
	}
	e.clock.Advance(time.Hour)
	j, _ = e.m.Get(ctx, "alice", j.ID)
	if got := j.CostAt(e.clock.Now()); !quotaNear(got, 5) {
		t.Fatalf("after resize and 1h: %v, want 5", got)
	}
	rm, err := e.m.Remove(ctx, "alice", j.ID)
	if err != nil || rm.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", rm, err)
	}
	e.clock.Advance(10 * time.Hour)
	j, _ = e.m.Get(ctx, "alice", j.ID)
	if !j.Cost.Final() || !quotaNear(j.CostAt(e.clock.Now()), 5) {
		t.Fatalf("after remove: final %v cost %v, want final 5", j.Cost.Final(), j.CostAt(e.clock.Now()))
	}
	// A provider without a price: no cost.
	e2 := newEnv(t, []string{"b"}, nil)
	if r := e2.create("alice", 2); r.Job.Cost != nil {
		t.Fatalf("unpriced provider: cost %+v", r.Job.Cost)
	}
}

// TestQuotaExpiryMakesCostFinal: a reclaimed lease ends the cost at the
// reclaim.
func TestQuotaExpiryMakesCostFinal(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	quotaPrice(e, "a", 1)
	r := e.create("alice", 2)
	e.clock.Advance(time.Hour + time.Second)
	e.m.ReapOnce(ctx)
	j, _ := e.m.Get(ctx, "alice", r.Job.ID)
	if j.Status != jobs.StatusExpired || !j.Cost.Final() {
		t.Fatalf("after the lease: %s %+v", j.Status, j.Cost)
	}
	want := 2 * (time.Hour + time.Second).Hours()
	e.clock.Advance(time.Hour)
	if got := j.CostAt(e.clock.Now()); !quotaNear(got, want) {
		t.Fatalf("cost %v, want %v", got, want)
	}
}

// TestQuotaCoresLimit: a user at its cores quota is refused with 408
// naming the limit, CheckQuota names it too, other users are not held
// back, and removing a job frees the cores.
func TestQuotaCoresLimit(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Cores: 16}}}
	})
	first := e.create("alice", 8)
	if r := e.create("alice", 8); r.Status != csbmsg.StatusOK {
		t.Fatalf("second 8 cores: %+v", r)
	}
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, `cores limit of user alice: 16 cores at most; 16 held, the request asks for 1 more`) {
		t.Fatalf("over the quota: %+v", r)
	}
	qc, err := e.m.CheckQuota(ctx, "alice", jobstest.VMRequest(1, 1), nil, 0)
	if err != nil || qc.Refusal == nil || qc.Refusal.Limit != "cores" || qc.Refusal.Scope != "user alice" {
		t.Fatalf("check: %+v %v", qc, err)
	}
	if r := e.create("bob", 8); r.Status != csbmsg.StatusOK {
		t.Fatalf("bob: %+v", r)
	}
	if _, err := e.m.Remove(ctx, "alice", first.Job.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.create("alice", 8); r.Status != csbmsg.StatusOK {
		t.Fatalf("after a remove: %+v", r)
	}
}

// TestQuotaSpendLimit: the spend is projected over the leases: a request
// whose cost for its lease would take the day's spend past the limit is
// refused.
func TestQuotaSpendLimit(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"*": {Spend: []quota.Spend{{Amount: 10, Period: quota.Day}}}}}
	})
	quotaPrice(e, "a", 0.5)
	// 8 cores × 0.5 × 1 h = 4.
	if r := quotaCreate(t, e.m, "alice", 8, jobs.CreateOptions{Lease: time.Hour}); r.Status != csbmsg.StatusOK {
		t.Fatalf("first: %+v", r)
	}
	// 4 committed + 8 cores × 0.5 × 2 h = 12 > 10.
	r := quotaCreate(t, e.m, "alice", 8, jobs.CreateOptions{Lease: 2 * time.Hour})
	if r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "spend per day limit of user alice (the default for users): 10 at most; 4 spent or committed this day, the request would cost 8") {
		t.Fatalf("over the spend: %+v", r)
	}
	// 4 + 4 × 0.5 × 2 h = 8 fits.
	if r := quotaCreate(t, e.m, "alice", 4, jobs.CreateOptions{Lease: 2 * time.Hour}); r.Status != csbmsg.StatusOK {
		t.Fatalf("within the spend: %+v", r)
	}
	// Another user has a spend of its own.
	if r := quotaCreate(t, e.m, "bob", 8, jobs.CreateOptions{Lease: 2 * time.Hour}); r.Status != csbmsg.StatusOK {
		t.Fatalf("bob: %+v", r)
	}
}

// TestQuotaGroupLimit: a group's limit bounds its members together.
func TestQuotaGroupLimit(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Groups: []quota.Group{{Name: "team", Members: []string{"alice", "bob"}, Limits: quota.Limits{Jobs: 2}}}}
	})
	e.create("alice", 1)
	e.create("bob", 1)
	r := e.create("bob", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, `jobs limit of group team: 2 live jobs at most; 2 held`) {
		t.Fatalf("third job of the team: %+v", r)
	}
	if r := e.create("carol", 1); r.Status != csbmsg.StatusOK {
		t.Fatalf("carol: %+v", r)
	}
}

// TestQuotaMaxPrice: placement never picks a provider above the
// request's maximum price.
func TestQuotaMaxPrice(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 0.5)
	quotaPrice(e, "b", 0.2)
	limit := 0.3
	r := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{MaxPrice: &limit})
	if r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("max 0.3: %+v", r)
	}
	limit = 0.1
	r = quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{MaxPrice: &limit})
	if r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "a: price 0.5 is above the maximum price 0.1 the request accepts") {
		t.Fatalf("max 0.1: %+v", r)
	}
}

// TestQuotaRaceTwoInstances: two brokers sharing a store admit exactly
// the quota between them.
func TestQuotaRaceTwoInstances(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Jobs: 5}}}
	})
	m2 := e.start(e.cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := 0; i < 16; i++ {
		m := e.m
		if i%2 == 1 {
			m = m2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status == csbmsg.StatusOK {
				mu.Lock()
				admitted++
				mu.Unlock()
			} else if !strings.Contains(r.Reason, "jobs limit") {
				t.Errorf("refused for another reason: %+v", r)
			}
		}()
	}
	wg.Wait()
	if admitted != 5 {
		t.Fatalf("admitted %d, want 5", admitted)
	}
}

// TestQuotaResize: an update that grows a job past a quota is refused
// with 409 naming the limit; one that fits, or shrinks, is applied.
func TestQuotaResize(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Cores: 12}}}
	})
	e.create("alice", 8)
	small := e.create("alice", 2).Job
	if r, err := e.m.Update(ctx, "alice", small.ID, jobstest.VMRequest(4, 1), 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("2 -> 4 cores (12 of 12): %+v %v", r, err)
	}
	r, err := e.m.Update(ctx, "alice", small.ID, jobstest.VMRequest(6, 1), 0)
	if err != nil || r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "cores limit of user alice: 12 cores at most; 12 held, the request asks for 2 more") {
		t.Fatalf("4 -> 6 cores: %+v %v", r, err)
	}
	if r, err := e.m.Update(ctx, "alice", small.ID, jobstest.VMRequest(1, 1), 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("4 -> 1 core: %+v %v", r, err)
	}
}

// TestQuotaMoveSplitsCost: a job that moved cost its old provider's price
// until the move and the new one's since; ByProvider splits it.
func TestQuotaMoveSplitsCost(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	j := e.create("alice", 2).Job
	e.clock.Advance(time.Hour)
	if r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour)
	j, _ = e.m.Get(ctx, "alice", j.ID)
	by := j.Cost.ByProvider(e.clock.Now())
	if !quotaNear(by["a"], 2) || !quotaNear(by["b"], 6) || !quotaNear(j.CostAt(e.clock.Now()), 8) {
		t.Fatalf("by provider %v, in all %v; want a 2, b 6", by, j.CostAt(e.clock.Now()))
	}
}
