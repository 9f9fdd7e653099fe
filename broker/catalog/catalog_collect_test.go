package catalog

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// TestRetentionWhileOthersChange: the expiry loop drops entries
// past their retention even while other providers keep changing the
// catalogue (every subscription renewal is a change). A change restarts
// the loop's wait for the next expiry; the retention's collection must
// not be put off by it again and again, or a provider whose subscription
// lapsed keeps its expired entries for as long as any other one renews.
func TestRetentionWhileOthersChange(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc, Retention: time.Hour})
	_ = c.Configure([]ProviderConfig{{ID: "p"}, {ID: "q"}})
	c.SetLease("s-p", t0.Add(time.Hour))
	c.ApplyNotification(notif("s-p", 1, "p", iaas("a", 1)), true)
	c.SetLease("s-q", t0.Add(time.Minute)) // q's subscription lapses
	c.ApplyNotification(notif("s-q", 1, "q", iaas("b", 1)), true)
	created := fc.TimerCreated()
	c.Start()
	waitTimer(t, created)
	for range 30 { // five hours, p renewing every ten minutes
		due := fc.Pending()
		created = fc.TimerCreated()
		fc.Advance(10 * time.Minute)
		if len(due) > 0 && !due[0].After(fc.Now()) {
			waitTimer(t, created) // the loop ran and waits again
		}
		created = fc.TimerCreated()
		c.SetLease("s-p", fc.Now().Add(time.Hour))
		waitTimer(t, created) // the loop took the change in
	}
	if s := c.Services("q"); len(s) != 0 {
		t.Fatalf("q's entries, expired at %s, kept at %s with a retention of 1h: %+v",
			t0.Add(time.Minute).Format(time.TimeOnly), fc.Now().Format(time.TimeOnly), ids(s))
	}
	if len(c.Services("p")) != 1 {
		t.Fatal("p's renewed entry dropped")
	}
}

// waitTimer waits until the expiry loop created a timer (created closed).
func waitTimer(t *testing.T, created <-chan struct{}) {
	t.Helper()
	select {
	case <-created:
	case <-time.After(5 * time.Second):
		t.Fatal("the expiry loop did not wait again")
	}
}
