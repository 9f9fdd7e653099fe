package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestCostCounterMovedJobByProvider: caddy_csb_job_cost_total must count
// a moved job's cost under each provider that held it, as its parts
// (jobs.Cost.Parts, what /csb/costs?provider= reports). It added each
// increase under the job's provider at the write that saw it. Here two
// brokers share the storage and only the first one's writes are
// counted: it creates alice's 2-core job at a (price 1), the second one
// moves it to b (price 3) an hour later, and the first removes it after
// an hour at b: a 2, b 6. The first broker's next write after the move
// found 8 and booked the 2 since its last count (the hour at a) under b.
// A scrape that counted from a record that did not know of the move
// (bob's job) cannot be taken back, but the counter never counts more
// than the job cost.
func TestCostCounterMovedJobByProvider(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	c := newCostCounter()
	c.now = clk.Now
	cat := new(jobstest.Catalog)
	ads := map[string]*jobstest.Adapter{}
	for p, price := range map[string]string{"a": "price:1", "b": "price:3"} {
		cat.AddProvider(catalog.ProviderEntry{ID: p, Label: price})
		cat.AddService(p, jobstest.VM("vm-"+p, 8, 32))
		ads[p] = &jobstest.Adapter{Name: p}
	}
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.Config{Store: new(store.Memory), Placer: placer, Clock: clk, ReapInterval: time.Hour,
		Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) { a, ok := ads[id]; return a, ok }}
	start := func(onChange func(*jobs.Job)) *jobs.Manager {
		cfg := cfg
		cfg.OnChange = onChange
		m, err := jobs.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Stop)
		return m
	}
	m1, m2 := start(c.observe), start(nil)
	ctx := context.Background()
	create := func(owner string) string {
		r, err := m1.Create(ctx, owner, jobstest.VMRequest(2, 1), jobs.CreateOptions{Lease: 4 * time.Hour})
		if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "a" {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	alice, bob := create("alice"), create("bob")
	clk.Advance(time.Hour)
	for owner, id := range map[string]string{"alice": alice, "bob": bob} {
		if r, err := m2.Move(ctx, owner, id, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
			t.Fatalf("move: %+v %v", r, err)
		}
	}
	clk.Advance(time.Hour)
	// Alice's job is removed before a scrape: the first broker counts it
	// from a record that knows of the move.
	if r, err := m1.Remove(ctx, "alice", alice); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	j, err := m1.Get(ctx, "alice", alice)
	if err != nil || j.Cost == nil || !j.Cost.Final() {
		t.Fatalf("job: %+v %v", j, err)
	}
	parts := j.Cost.Parts(time.Time{}, clk.Now(), clk.Now())
	if len(parts) != 2 {
		t.Fatalf("parts %+v, want a and b", parts)
	}
	for p, want := range map[string]float64{"a": 2, "b": 6} {
		var part float64
		for _, x := range parts {
			if x.ProviderID == p {
				part = x.Amount
			}
		}
		got := testutil.ToFloat64(c.vec.WithLabelValues("alice", p))
		if !costsNear(part, want) || !costsNear(got, part) {
			t.Errorf("alice at %s: metric %v, part %v, want both %v", p, got, part, want)
		}
	}

	// Bob's job is scraped first: the first broker's record has it at a
	// for 2 h (4). Then it is removed, an hour later: 2 at a, 12 at b.
	testutil.CollectAndCount(c)
	clk.Advance(time.Hour)
	if r, err := m1.Remove(ctx, "bob", bob); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	a, b := testutil.ToFloat64(c.vec.WithLabelValues("bob", "a")), testutil.ToFloat64(c.vec.WithLabelValues("bob", "b"))
	if !costsNear(a, 4) || !costsNear(a+b, 14) {
		t.Errorf("bob: a %v, b %v; want 4 counted at a by the scrape and 14 in all", a, b)
	}
}
