package publish

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestNotificationBeforeAnotherBrokersCreateIsAnsweredHasALease: a
// provider may notify before it answers a create, and in a cluster the
// notification may reach another broker than the one that sent the
// create. That broker recognises the id from the stored record; the
// entries it applies must expire with the subscription (the provisional
// lease the creating broker gave them), not be published with no lease,
// which the catalogue takes as "never expires" and which, persisted,
// wins every later lease merge.
func TestNotificationBeforeAnotherBrokersCreateIsAnsweredHasALease(t *testing.T) {
	st := new(store.Memory)
	fc := clock.NewFake(t0)
	a := newHarness(t, st, fc)
	b := newHarness(t, st, fc)
	_ = a.m.Configure([]SubscriptionConfig{cfgP})
	c := a.expect(csbmsg.ActionCreate, 1) // not answered yet
	id := c.req.ID
	_ = b.m.Configure([]SubscriptionConfig{cfgP})
	ing := NewIngester(IngestOptions{Catalog: b.cat, Clock: fc, Subscriptions: b.m})
	_ = ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	if r := ing.Ingest(notif(id, 1, "p", "vm"), "u"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	svcs := b.cat.Services("p")
	if len(svcs) != 1 {
		t.Fatalf("services %+v", svcs)
	}
	if want := t0.Add(cfgP.Expires); !svcs[0].Expires.Equal(want) {
		t.Errorf("entry published before the create was answered expires %v, want %v (the provisional lease)", svcs[0].Expires, want)
	}
	ok(c, nil)
	a.waitStatus(StatusActive)
}
