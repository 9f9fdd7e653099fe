package publish

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestPublishedServicesAreBounded: notifications that are not full only
// add services and the catalogue never evicts, so a publisher sending one
// new service id after another could grow the broker's memory (and the
// record stored for each of its notifications) without end. A
// notification that would leave the provider above the bound is refused
// whole (402), without using up its seqnumber; a full notification
// replaces what the provider published, so it counts only what it lists.
func TestPublishedServicesAreBounded(t *testing.T) {
	fc := clock.NewFake(t0)
	cat, err := catalog.New(catalog.Options{Clock: fc, MaxPublishedServices: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	ing := NewIngester(IngestOptions{Catalog: cat, Clock: fc, Subscriptions: fakeSubs{"sub-a": "a"}})
	_ = ing.Configure(true, map[string]Policy{"a": {Publishers: []string{"alice"}}})

	if r := ing.Ingest(notif("sub-a", 1, "a", "s1", "s2", "s3"), "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	r := ing.Ingest(notif("sub-a", 2, "a", "s4"), "alice")
	if r.Response.Status != csbmsg.StatusCannotUpdate || r.Outcome != OutcomeRefused ||
		!strings.Contains(r.Response.Reason, "at most 3") {
		t.Fatalf("a fourth service answered %d %q (%s), want 402", r.Response.Status, r.Response.Reason, r.Outcome)
	}
	if got := placeable(cat); got != "a/s1,a/s2,a/s3" {
		t.Fatalf("refused notification changed the catalogue: %s", got)
	}
	// The seqnumber was not used up, and an update of a known service fits.
	if r := ing.Ingest(notif("sub-a", 2, "a", "s1"), "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("update of a known service: %+v", r)
	}
	// A full notification counts what it lists only.
	if r := ing.Ingest(notif("sub-a", 3, "a", "s4", "s5"), "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("full notification: %+v", r)
	}
	if got := placeable(cat); got != "a/s4,a/s5" {
		t.Fatalf("after the full notification: %s", got)
	}
	if r := ing.Ingest(notif("sub-a", 4, "a", "s6", "s7", "s8", "s9"), "alice"); r.Response.Status != csbmsg.StatusCannotUpdate {
		t.Fatalf("full notification of 4 services answered %d %q, want 402", r.Response.Status, r.Response.Reason)
	}
}
