package publish

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// TestPushExpiryRemovedFromConfiguration: push entries expire `push {
// expires }` after each notification, or never when it is not set. An
// operator who drops the expiry must not find the provider's later
// notifications applied with the lease of the old setting, already
// passed: answered 200 "applied" while nothing of them is placeable.
func TestPushExpiryRemovedFromConfiguration(t *testing.T) {
	fc := clock.NewFake(t0)
	ing, cat, _ := newIngest(t, fc) // push-c expires a minute after each notification
	if r := ing.Ingest(notif("push-c", 1, "c", "p1"), ""); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	if err := ing.Configure(true, map[string]Policy{"c": {Publishers: []string{AnyPublisher}, PushIDs: []string{"push-c"}}}); err != nil {
		t.Fatal(err)
	}
	fc.Advance(2 * time.Minute)
	if r := ing.Ingest(notif("push-c", 2, "c", "p2"), ""); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	if got := placeable(cat); got != "c/p1,c/p2" {
		t.Fatalf("placeable %q after a notification under a push id that no longer expires, want c/p1,c/p2", got)
	}
}
