package publish

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestAuditRemoveAnswered404IsDone: a provider that answers a remove with
// 404 (draft 4.1.2.4: the subscription does not exist) no longer holds it,
// so the broker counts the subscription as removed and sends no further
// remove. TestResponseCodes covers 404 on update only.
func TestAuditRemoveAnswered404IsDone(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	if err := h.m.Configure([]SubscriptionConfig{cfgP}); err != nil {
		t.Fatal(err)
	}
	ok(h.expect(csbmsg.ActionCreate, 1), nil)
	if err := h.m.Configure(nil); err != nil {
		t.Fatal(err)
	}
	status(h.expect(csbmsg.ActionRemove, 2), csbmsg.StatusNoSuchSubscription)
	// A failed remove is retried after a backoff; a removed one is not.
	if h.fc.WaitTimers(1, 300*time.Millisecond) {
		h.fc.Advance(time.Minute)
	}
	h.noCommand()
}
