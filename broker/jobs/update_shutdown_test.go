package jobs_test

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// stopDuringUpdate is a test adapter whose Update lets the broker shut
// down while the provider carries the update out: the provider's answer
// comes after the broker's context has ended.
type stopDuringUpdate struct {
	*jobstest.Adapter
	stop func()
}

func (a stopDuringUpdate) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	go a.stop()
	<-ctx.Done() // the manager's context, ended by Stop
	return a.Adapter.Update(context.Background(), res, req)
}

// TestUpdateAnsweredDuringShutdownIsRecorded: an update the provider
// carried out and answered while the broker was shutting down is
// recorded as done. It was recorded as interrupted (the update kept as
// the job's operation), and the broker that started next applied it a
// second time: an adapter whose update adds something (an OCCI storage
// and its link) made it twice.
func TestUpdateAnsweredDuringShutdownIsRecorded(t *testing.T) {
	var m *jobs.Manager
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return ad, ok
			}
			return stopDuringUpdate{Adapter: ad.(*jobstest.Adapter), stop: func() { m.Stop() }}, true
		}
	})
	m = e.m
	j := e.create("alice", 2).Job
	if j == nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", j)
	}
	if _, err := m.Update(context.Background(), "alice", j.ID, jobstest.VMRequest(4, 1), 0); err != nil {
		t.Fatal(err)
	}
	if n := e.ads["a"].Calls("update"); n != 1 {
		t.Fatalf("%d update calls, want 1", n)
	}
	// The next broker on the same storage finds nothing left to do.
	next := e.start(e.cfg)
	if _, err := next.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.waitJob(next, "alice", j.ID, func(j *jobs.Job) bool { return j.Op == nil })
	if c := got.Request.IaaS.Compute; c == nil || c.Cores == nil || *c.Cores != 4 {
		t.Fatalf("the job's request does not hold the update: %+v", got.Request.IaaS)
	}
	if n := e.ads["a"].Calls("update"); n != 1 {
		t.Fatalf("the next broker applied the update again: %d update calls, want 1", n)
	}
}
