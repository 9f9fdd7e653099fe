package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestLeaseRenewedWhileClockAheadEndsInItsLength: a lease was renewed
// while the broker's clock ran a year ahead (a host resumed with a wrong
// clock), then the clock was set right. The lease's end lay a year and
// an hour away, so the resource ran, and cost, for a year without a
// renewal, and <expires> said 31 million seconds, beyond lease_max. A
// lease end further ahead than the lease's length and a day cannot have
// been granted by a right clock: the reaper brings it back to the
// lease's length from now, and reclaims it then. An instance whose own
// clock is hours behind (a time zone mistake) leaves leases alone: it
// cannot tell that from a writer's clock ahead, and shortening them would
// make its peers reclaim them early.
func TestLeaseRenewedWhileClockAheadEndsInItsLength(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var ahead atomic.Int64
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.ReapInterval = 30 * time.Second
		c.Clock = clock.Func(func() time.Time { return fc.Now().Add(time.Duration(ahead.Load())) })
	})
	j := e.create("alice", 1).Job
	ahead.Store(int64(-14 * time.Hour)) // this instance's clock behind
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Inspect(ctx, j.ID); !got.Expires.Equal(j.Expires) {
		t.Fatalf("an instance 14 h behind moved the lease end from %v to %v", j.Expires, got.Expires)
	}
	ahead.Store(int64(365 * 24 * time.Hour))
	if r, err := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("renew: %v %+v", err, r)
	}
	// A pass while the clock is ahead finds nothing to do, and keeps the
	// record in its memo: the pass after the clock is set right must
	// read it all the same.
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ahead.Store(0) // set right
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.m.Inspect(ctx, j.ID)
	lease := time.Duration(got.LeaseSeconds) * time.Second
	if left := got.Expires.Sub(fc.Now()); left > lease {
		t.Fatalf("lease ends in %v after the clock was set right, want at most its length %v", left, lease)
	}
	// The lease ends within its length.
	fc.Advance(lease)
	if st, err := e.m.ReapOnce(ctx); err != nil || st.Expired != 1 {
		t.Fatalf("pass a lease later: %+v %v", st, err)
	}
}
