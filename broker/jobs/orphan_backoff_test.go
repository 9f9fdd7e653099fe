package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestOrphanRemovalBacksOff: an orphan's provider is down. The reaper
// called its Remove again at every pass, each call up to CallTimeout, one
// orphan after the other under the reaper's lock: a down provider with
// many orphans held up every other provider's reclaims. A failed removal
// is now retried after a wait that doubles (from one reap interval, up to
// a bound), stored with the job: a second broker on the same store (or a
// restarted one) keeps to it. The passes in between count the orphan as
// waiting, and the removal happens once the provider answers.
func TestOrphanRemovalBacksOff(t *testing.T) {
	ctx := context.Background()
	const interval = 30 * time.Second
	e := newLifeEnv(t, func(c *jobs.Config) { c.ReapInterval = interval })
	j := lifeJob(t, e)
	// Removed while its provider is held back: the removal is queued, an
	// orphan the reaper removes once the provider is active again.
	deactivate(e, "a", csbmsg.ServiceUnavailable)
	if r, err := e.m.Remove(ctx, "alice", j.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	deactivate(e, "a", csbmsg.ServiceActive)
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("503 service unavailable")})
	removes := func() int { return e.ads["a"].Calls("remove") }
	other := e.start(e.cfg) // another broker sharing the store

	// Failures at 0, +1, +2 (doubled), +4 intervals; no call in between.
	tries := []int{0, 1, 3, 7}
	for pass, n := 0, 0; pass <= 7; pass++ {
		m := e.m
		if pass%2 == 1 {
			m = other
		}
		st, err := m.ReapOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tried := n < len(tries) && pass == tries[n]
		if tried {
			n++
		}
		if got := removes(); got != n {
			t.Fatalf("pass %d (+%v): %d removal calls, want %d (%+v)", pass, time.Duration(pass)*interval, got, n, st)
		}
		if tried && (st.Failures != 1 || st.OrphansWaiting != 0) || !tried && (st.Failures != 0 || st.OrphansWaiting != 1) {
			t.Fatalf("pass %d: %+v", pass, st)
		}
		got, _ := e.m.Inspect(ctx, j.ID)
		if len(got.Orphans) != 1 || got.Orphans[0].Failures != n || got.Orphans[0].Retry.IsZero() || got.Orphans[0].LastError == "" {
			t.Fatalf("pass %d: orphans %+v, want %d failures and the next try", pass, got.Orphans, n)
		}
		e.clock.Advance(interval)
	}
	// The provider answers again: the next due try removes the orphan.
	e.ads["a"].SetFault(jobstest.Fault{})
	e.clock.Advance(10 * time.Minute)
	if st, err := e.m.ReapOnce(ctx); err != nil || st.Orphans != 1 {
		t.Fatalf("after the provider came back: %+v %v", st, err)
	}
	if got, _ := e.m.Inspect(ctx, j.ID); got.Status != jobs.StatusRemoved || len(got.Orphans) != 0 || len(e.ads["a"].LiveFor(j.ID)) != 0 {
		t.Fatalf("job %s %q, orphans %+v, live %v", got.Status, got.Reason, got.Orphans, e.ads["a"].LiveFor(j.ID))
	}
}
