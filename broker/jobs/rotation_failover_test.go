package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// TestRotationFollowsTaker: under round_robin, provider a refuses every
// create, so each job ranked to a is placed on the next candidate. The
// rotation moved by the provider ranked first, so the decision after
// such a failover ranked the taker first again: b got its own turn and
// a's (b b c b b c). The manager now tells the policy which provider
// took the job, and b and c share a's turns.
func TestRotationFollowsTaker(t *testing.T) {
	e := newEnv(t, []string{"a", "b", "c"}, nil)
	rr, err := placement.New(placement.Config{Catalog: e.cat, Order: []string{"a", "b", "c"}, Policy: &placement.RoundRobin{}})
	if err != nil {
		t.Fatal(err)
	}
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("503 service unavailable")})
	got := ""
	for range 6 {
		r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Placer: rr})
		if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v %v", r, err)
		}
		got += r.Job.ProviderID
	}
	if got != "bcbcbc" {
		t.Fatalf("jobs placed on %s, want bcbcbc", got)
	}
}
