package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestCheckAfterClockStepBack: the broker's clock ran a year ahead (a
// host resumed with a wrong clock) while a check pass ran, then was set
// right. The pass's mark said every job was confirmed a year from now,
// so no pass and no read checked any job for a year: a resource that
// vanished went unnoticed. A confirmation more than an interval in the
// future is not believed.
func TestCheckAfterClockStepBack(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var ahead atomic.Int64 // how far the broker's clock runs ahead
	e := newLifeEnv(t, func(c *jobs.Config) {
		c.CheckInterval = 10 * time.Minute
		c.Clock = clock.Func(func() time.Time { return fc.Now().Add(time.Duration(ahead.Load())) })
	})
	j := lifeJob(t, e)
	ahead.Store(int64(365 * 24 * time.Hour))
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 || st.Gone != 0 {
		t.Fatalf("pass with the clock ahead: %+v %v", st, err)
	}
	ahead.Store(0) // set right
	fc.Advance(20 * time.Minute)
	vanish(t, e, j)
	got, _ := e.m.Inspect(context.Background(), j.ID)
	if !e.m.StaleForRead(got) {
		t.Fatal("a read does not check a job last confirmed a year from now")
	}
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Gone != 1 {
		t.Fatalf("pass after the clock was set right: %+v %v", st, err)
	}
	if got, _ = e.m.Inspect(context.Background(), j.ID); got.Status != jobs.StatusFailed {
		t.Fatalf("vanished resource not noticed: %s %q", got.Status, got.Reason)
	}
	// Within an interval of the clock, a confirmation stands (instances
	// of a cluster whose clocks differ by seconds do not check again).
	j2 := e.create("alice", 1).Job
	if j2 == nil || j2.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", j2)
	}
	ahead.Store(int64(-time.Minute))
	if e.m.StaleForRead(j2) {
		t.Fatal("a job confirmed a minute from now counts as stale")
	}
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 0 {
		t.Fatalf("pass a minute behind: %+v %v", st, err)
	}
}
