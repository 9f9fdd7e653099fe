package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestLeaseMinimumDefaultIs300s: the draft (4.2.2.5) recommends a minimum
// of 300 seconds for a lease; with LeaseMin left at zero, a consumer asking
// for 10 s gets 300 s, and one asking for 301 s gets 301 s.
func TestLeaseMinimumDefaultIs300s(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.LeaseMin = 0 })
	for _, tc := range []struct{ ask, want time.Duration }{
		{10 * time.Second, 300 * time.Second},
		{301 * time.Second, 301 * time.Second},
	} {
		r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Lease: tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		if r.Job == nil {
			t.Fatalf("asking %v: no job (%d %s)", tc.ask, r.Status, r.Reason)
		}
		if got := r.Job.Expires.Sub(e.clock.Now()); got != tc.want {
			t.Errorf("asking %v: lease of %v, want %v", tc.ask, got, tc.want)
		}
	}
}
