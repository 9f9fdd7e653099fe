package caddymodule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// TestQuotaCostCounter: caddy_csb_job_cost_total grows with a live job's
// cost on scrapes and writes, stops at its final cost, and no longer
// follows the job after that.
func TestQuotaCostCounter(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := start
	c := newCostCounter()
	c.now = func() time.Time { return now }
	j := &jobs.Job{ID: "j1", Owner: "alice", Expires: start.Add(10 * time.Hour),
		Cost: &jobs.Cost{ProviderID: "a", Price: 0.5, Unit: quota.UnitCore, Units: 4, Started: start, Since: start}}
	c.observe(j)
	value := func() float64 { return testutil.ToFloat64(c.vec.WithLabelValues("alice", "a")) }
	now = start.Add(time.Hour)
	if n := testutil.CollectAndCount(c); n != 1 || value() != 2 {
		t.Fatalf("after 1 h: %d series, %v", n, value())
	}
	now = start.Add(90 * time.Minute)
	j.Cost.Until = now
	c.observe(j)
	if value() != 3 || len(c.jobs) != 0 {
		t.Fatalf("final: %v, %d jobs followed", value(), len(c.jobs))
	}
	now = start.Add(5 * time.Hour)
	testutil.CollectAndCount(c)
	if value() != 3 {
		t.Fatalf("after the end: %v", value())
	}
	// A job followed past its lease (another instance may have ended it)
	// counts up to the lease's end only.
	k := &jobs.Job{ID: "j2", Owner: "bob", Expires: now.Add(time.Hour),
		Cost: &jobs.Cost{ProviderID: "a", Price: 1, Unit: quota.UnitCore, Units: 1, Started: now, Since: now}}
	c.observe(k)
	now = now.Add(3 * time.Hour)
	testutil.CollectAndCount(c)
	if v := testutil.ToFloat64(c.vec.WithLabelValues("bob", "a")); v != 1 || len(c.jobs) != 0 {
		t.Fatalf("past the lease: %v, %d followed", v, len(c.jobs))
	}
}
