package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestReclaimFailureBacksOff: the provider of an ended lease is down. The
// reaper called its Remove again at every pass, each call up to
// CallTimeout, one job after the other under the reaper's lock: a down
// provider with many ended leases held up every other lease's reclaim.
// A failed reclaim is now retried after a wait that doubles (from one
// reap interval, up to a bound), the job stays successful (its resource
// runs) and says why, and the reclaim happens once the provider answers.
func TestReclaimFailureBacksOff(t *testing.T) {
	ctx := context.Background()
	const interval = 30 * time.Second
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.ReapInterval = interval })
	j := e.create("alice", 1).Job
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("503 service unavailable")})
	e.clock.Advance(time.Hour)
	removes := func() int { return e.ads["a"].Calls("remove") }

	// Failures at 0, +1, +2 (doubled), +4 intervals; no call in between.
	tries := []int{0, 1, 3, 7}
	for pass, n := 0, 0; pass <= 7; pass++ {
		st, err := e.m.ReapOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n < len(tries) && pass == tries[n] {
			n++
		}
		if got := removes(); got != n {
			t.Fatalf("pass %d (+%v): %d removal calls, want %d (%+v)", pass, time.Duration(pass)*interval, got, n, st)
		}
		got, _ := e.m.Inspect(ctx, j.ID)
		if got.Status != jobs.StatusSuccess || got.Reason == "" {
			t.Fatalf("pass %d: job %s %q, want success saying the reclaim failed", pass, got.Status, got.Reason)
		}
		e.clock.Advance(interval)
	}
	// The provider answers again: the next due try reclaims the lease.
	e.ads["a"].SetFault(jobstest.Fault{})
	e.clock.Advance(10 * time.Minute)
	if st, err := e.m.ReapOnce(ctx); err != nil || st.Expired != 1 {
		t.Fatalf("after the provider came back: %+v %v", st, err)
	}
	if got, _ := e.m.Inspect(ctx, j.ID); got.Status != jobs.StatusExpired || len(e.ads["a"].Live()) != 0 {
		t.Fatalf("job %s, live %v", got.Status, e.ads["a"].Live())
	}
}
