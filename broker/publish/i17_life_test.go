package publish

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestRenewalPausedWhileDeactivated: a provider the catalogue holds
// deactivated gets no renewal (draft 4.1.2.3.1.1); once a notification
// says it is active again, the renewal that was due is sent.
func TestRenewalPausedWhileDeactivated(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	if err := h.m.Configure([]SubscriptionConfig{cfgP}); err != nil {
		t.Fatal(err)
	}
	c := h.expect(csbmsg.ActionCreate, 1)
	id := c.req.ID
	ok(c, &csbmsg.Subscription{ID: id, Expires: u64(100), Frequency: u64(60)})
	h.waitStatus(StatusActive)
	notify := func(seq uint64, st csbmsg.ServiceStatus) {
		n := &csbmsg.Notification{ID: id, SeqNumber: seq, Provider: csbmsg.Provider{ID: "p", Status: st},
			Services: []csbmsg.Service{{ID: "vm", Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(4)}}}}}
		h.cat.ApplyNotification(n, true)
	}
	notify(1, csbmsg.ServiceDeactivated)
	h.waitStatus(StatusPaused)
	// The renewal falls due at 80 s: nothing is sent.
	h.advance(80 * time.Second)
	h.noCommand()
	if st := h.m.Snapshot()[0]; st.Status != StatusPaused {
		t.Fatalf("status %s, want paused", st.Status)
	}
	// Active again: the overdue renewal goes out.
	notify(2, csbmsg.ServiceActive)
	c = h.expect(csbmsg.ActionUpdate, 2)
	ok(c, nil)
	h.waitStatus(StatusActive)
}
