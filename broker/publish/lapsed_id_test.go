package publish

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestNotificationUnderLapsedSubscriptionIsRefused: once a subscription's
// granted expiry has passed it no longer exists (draft 4.1.2.2.1: "the
// subscription expires and the csb has to subscribe again"). A
// notification still sent under its id must be answered 404, not 200
// "applied" while its services land already expired and out of
// placement (docs/publish.md: a lapsed id is answered 404).
func TestNotificationUnderLapsedSubscriptionIsRefused(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	old := c.req.ID
	ok(c, &csbmsg.Subscription{Expires: u64(100)})
	ing := NewIngester(IngestOptions{Catalog: h.cat, Clock: h.fc, Subscriptions: h.m})
	_ = ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	if r := ing.Ingest(notif(old, 1, "p", "vm"), "u"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	// Every renewal fails until the subscription lapses.
	h.advance(80 * time.Second)
	for seq := uint64(2); ; seq++ {
		c = h.expect(csbmsg.ActionUpdate, seq)
		status(c, csbmsg.StatusCannotUpdate)
		if !h.fc.WaitTimers(1, 5*time.Second) {
			t.Fatal("not waiting")
		}
		next := h.fc.Pending()[0]
		h.fc.Set(next)
		if !next.Before(t0.Add(100 * time.Second)) {
			break
		}
	}
	c = h.expect(csbmsg.ActionCreate, 1) // the new subscription, not answered yet
	r := ing.Ingest(notif(old, 2, "p", "vm", "vm2"), "u")
	if r.Response.Status != csbmsg.StatusNoSuchSubscription || r.Outcome != OutcomeRefused {
		t.Errorf("notification under the lapsed subscription answered %d %q (%s), want 404", r.Response.Status, r.Response.Reason, r.Outcome)
	}
	if n := len(h.cat.Services("p")); n != 1 {
		t.Errorf("the refused notification changed the catalogue: %d services", n)
	}
	if _, held := h.m.SubscriptionProvider(old, "p"); held {
		t.Error("lapsed subscription id still held")
	}
	status(c, csbmsg.StatusCannotCreate) // and the next create fails too
	if !h.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal("not waiting")
	}
	if r := ing.Ingest(notif(old, 3, "p", "vm"), "u"); r.Response.Status != csbmsg.StatusNoSuchSubscription {
		t.Errorf("after a failed create, the lapsed id answered %d %q, want 404", r.Response.Status, r.Response.Reason)
	}
	if len(h.cat.Placeable(catalog.KindIaaS)) != 0 {
		t.Error("services of the lapsed subscription placeable")
	}
}

// TestLapsedHereRenewedInStoreIsHeld: in a cluster another broker may
// have renewed a subscription before this one followed (its lease here
// has passed); the stored record says the subscription lives on, so its
// notifications are accepted and the lease catches up.
func TestLapsedHereRenewedInStoreIsHeld(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	id := c.req.ID
	ok(c, &csbmsg.Subscription{Expires: u64(100)})
	h.waitStatus(StatusActive)
	// This broker's lease is behind the stored record's expiry (t0+100s).
	h.cat.SetLease(id, t0.Add(10*time.Second))
	h.fc.Set(t0.Add(20 * time.Second)) // before the renewal at 80s
	if pid, held := h.m.SubscriptionProvider(id, "p"); !held || pid != "p" {
		t.Fatalf("subscription renewed in the store not held: %q %v", pid, held)
	}
	if x, _ := h.cat.Lease(id); !x.Equal(t0.Add(100 * time.Second)) {
		t.Errorf("lease %v, want the stored expiry", x)
	}
}
