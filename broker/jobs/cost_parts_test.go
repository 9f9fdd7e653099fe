package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// partsOf maps a job's cost parts in [from, to) by provider.
func partsOf(c *jobs.Cost, from, to, now time.Time) (cost, amount map[string]float64) {
	cost, amount = map[string]float64{}, map[string]float64{}
	for _, p := range c.Parts(from, to, now) {
		cost[p.ProviderID] += p.Cost
		amount[p.ProviderID] += p.Amount
	}
	return cost, amount
}

// TestCostPartsSplitAtMove: a job that moved cost its first provider's
// price until the move and the second's after it, and a window's cost
// splits there: a window after the move holds nothing of the first
// provider. The cost kept one sum per provider, so a window was split as
// the whole cost splits, and the settled stretches were spread evenly
// from the job's start: a day's spend counted a share of the dearer
// provider's hours before the move, and the first provider's after it.
func TestCostPartsSplitAtMove(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	t0 := e.clock.Now()
	j := e.create("alice", 2).Job
	e.clock.Advance(time.Hour)
	if r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour)
	if r, err := e.m.Remove(ctx, "alice", j.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	j, _ = e.m.Get(ctx, "alice", j.ID)
	c := j.Cost
	for _, w := range []struct {
		from, to time.Time
		a, b     float64
	}{
		{time.Time{}, now, 2, 6},
		{t0.Add(30 * time.Minute), now, 1, 6},
		{t0, t0.Add(time.Hour), 2, 0},
		{t0.Add(90 * time.Minute), now, 0, 3},
		{t0.Add(30 * time.Minute), t0.Add(90 * time.Minute), 1, 3},
	} {
		cost, amount := partsOf(c, w.from, w.to, now)
		if !quotaNear(cost["a"], w.a) || !quotaNear(cost["b"], w.b) || !quotaNear(c.Between(w.from, w.to, now), w.a+w.b) {
			t.Errorf("[%v, %v): parts %v, between %v; want a %v, b %v", w.from.Sub(t0), w.to.Sub(t0), cost, c.Between(w.from, w.to, now), w.a, w.b)
		}
		if !quotaNear(amount["a"], 2) || !quotaNear(amount["b"], 6) {
			t.Errorf("amounts %v, want a 2, b 6", amount)
		}
	}
	parts := c.Parts(time.Time{}, now, now)
	if len(parts) != 2 || parts[0].ProviderID != "a" || !parts[0].From.Equal(t0) || !parts[0].To.Equal(t0.Add(time.Hour)) ||
		parts[1].ProviderID != "b" || !parts[1].From.Equal(t0.Add(time.Hour)) || !parts[1].To.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("parts %+v", parts)
	}

	// A record written before the stays were kept splits as before:
	// the window's cost as the whole cost splits.
	legacy := *c
	legacy.Stays = nil
	cost, amount := partsOf(&legacy, t0.Add(90*time.Minute), now, now)
	if !quotaNear(amount["a"], 2) || !quotaNear(amount["b"], 6) || !quotaNear(cost["a"]+cost["b"], legacy.Between(t0.Add(90*time.Minute), now, now)) || !quotaNear(cost["a"]*3, cost["b"]) {
		t.Fatalf("a record without stays: parts %v, amounts %v", cost, amount)
	}
}

// TestCostPartsMoveUndone: a move undone after its new resource was
// recorded puts the job back at its first provider; its parts stay
// there, before and after the undone move.
func TestCostPartsMoveUndone(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	t0 := e.clock.Now()
	j := e.create("alice", 2).Job
	e.clock.Advance(time.Hour)
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	if r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "a" {
		t.Fatalf("move: %+v %v", r, err)
	}
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	j, _ = e.m.Get(ctx, "alice", j.ID)
	cost, amount := partsOf(j.Cost, t0.Add(30*time.Minute), now, now)
	if !quotaNear(cost["a"], 3) || cost["b"] != 0 || !quotaNear(amount["a"], 4) || amount["b"] != 0 {
		t.Fatalf("parts %v, amounts %v; want a 3 in the window, 4 in all, nothing at b", cost, amount)
	}
	if parts := j.Cost.Parts(time.Time{}, now, now); parts[0].ProviderID != "a" || !parts[0].To.IsZero() {
		t.Fatalf("parts %+v: want the job at a, accruing", parts)
	}
}
