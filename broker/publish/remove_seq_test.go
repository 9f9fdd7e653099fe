package publish

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestRemoveRetryTakesNextSeqnumber: every command for a subscription id
// takes the next seqnumber (draft 4.1.2.2.1: "following subscriptions
// MUST increment by 1 the previous 'seqnumber' value"), a retried remove
// as much as a retried update. A provider that refused a remove (403)
// sees the retry as a new command, not a replay of the refused one.
func TestRemoveRetryTakesNextSeqnumber(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	if err := h.m.Configure([]SubscriptionConfig{cfgP}); err != nil {
		t.Fatal(err)
	}
	ok(h.expect(csbmsg.ActionCreate, 1), nil)
	if err := h.m.Configure(nil); err != nil {
		t.Fatal(err)
	}
	status(h.expect(csbmsg.ActionRemove, 2), csbmsg.StatusCannotRemove)
	h.advance(time.Minute)
	status(h.expect(csbmsg.ActionRemove, 3), csbmsg.StatusCannotRemove)
	h.advance(time.Minute)
	ok(h.expect(csbmsg.ActionRemove, 4), nil)
}
