package jobs_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestExpiresInLeaseAtLongestDuration: with lease_max the longest
// duration (a configuration that means "no upper bound"), a job granted
// it expires in its lease's seconds. ExpiresIn rounded up by adding just
// under a second to the time left, which overflowed for a lease within a
// second of the longest duration, and <expires> said 2^64 - 9223372036
// seconds.
func TestExpiresInLeaseAtLongestDuration(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.LeaseMax = math.MaxInt64 })
	r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(2, 1), jobs.CreateOptions{Lease: math.MaxInt64})
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("create: %v %+v", err, r)
	}
	j := e.waitJob(e.m, "alice", r.Job.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	now := e.clock.Now()
	if got := j.ExpiresIn(now); got != j.LeaseSeconds {
		t.Fatalf("expires in %d s, want the lease, %d s", got, j.LeaseSeconds)
	}
	if got := j.ExpiresIn(now.Add(time.Second / 2)); got != j.LeaseSeconds {
		t.Fatalf("half a second later: expires in %d s, want %d s (rounded up)", got, j.LeaseSeconds)
	}
	if got := j.ExpiresIn(now.Add(time.Second)); got != j.LeaseSeconds-1 {
		t.Fatalf("a second later: expires in %d s, want %d s", got, j.LeaseSeconds-1)
	}
}
