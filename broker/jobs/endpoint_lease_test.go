package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestJobEndpointEndsWithTheLease: the job route stops at the end of the
// lease, not at the reaper's next pass, which may be ReapInterval away
// (or later: an attached volume's reclaim waits for its machine).
func TestJobEndpointEndsWithTheLease(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	e.clock.Advance(59 * time.Minute)
	if _, err := e.m.JobEndpoint(ctx, "alice", j.ID); err != nil {
		t.Fatalf("within the lease: %v", err)
	}
	e.clock.Advance(time.Minute)
	if got, _ := e.m.Get(ctx, "alice", j.ID); got.Status != jobs.StatusSuccess {
		t.Fatalf("the reaper has not run, yet the job is %s", got.Status)
	}
	if _, err := e.m.JobEndpoint(ctx, "alice", j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("lease ended, reaper not yet run: %v, want ErrNoJob", err)
	}
}
