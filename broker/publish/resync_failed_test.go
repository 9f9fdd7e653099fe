package publish

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestFailedResyncDoesNotMakeNextNotificationFull: the broker takes the
// first notification after a resynchronisation as the provider's full
// state, and withdraws what it does not list. When the update asking for
// it failed, the provider was never asked: its next notification is an
// ordinary one and must not withdraw the services it does not mention.
// The retried update, once accepted, asks again.
func TestFailedResyncDoesNotMakeNextNotificationFull(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	id := c.req.ID
	_ = h.ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	ing := h.ing
	ing.opt.Subscriptions = h.m
	ing.opt.OnGap = h.m.Resync
	ing.Ingest(notif(id, 1, "p", "a", "b"), "u")
	if r := ing.Ingest(notif(id, 3, "p", "c"), "u"); r.Outcome != OutcomeGap {
		t.Fatalf("%+v", r)
	}
	c = h.expect(csbmsg.ActionUpdate, 2)
	status(c, csbmsg.StatusCannotUpdate)
	if !h.fc.WaitTimers(1, 5*time.Second) { // the failure is handled: backoff
		t.Fatal("no backoff")
	}
	if r := ing.Ingest(notif(id, 4, "p", "c"), "u"); r.Full || len(r.Changes.Withdrawn) > 0 {
		t.Fatalf("notification after a failed resynchronisation taken as full: %+v", r)
	}
	if got := ids(h.cat); got != "a,b,c" {
		t.Fatalf("placeable %s, want a,b,c", got)
	}
	h.fc.Advance(time.Minute)
	ok(h.expect(csbmsg.ActionUpdate, 3), nil)
	h.waitStatus(StatusActive)
	if r := ing.Ingest(notif(id, 5, "p", "c"), "u"); !r.Full {
		t.Fatalf("the notification after the accepted resynchronisation must be full: %+v", r)
	}
}

func ids(cat *catalog.Catalog) string {
	var out []string
	for _, e := range cat.Placeable(catalog.KindIaaS) {
		out = append(out, e.Service.ID)
	}
	return strings.Join(out, ",")
}
