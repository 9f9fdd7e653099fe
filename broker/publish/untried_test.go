package publish

import (
	"errors"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestUngrantedSubscriptionShowsItsAttempt: a subscription the provider
// never granted still reports its provider, its URL and the id of the
// create sent, inactive, while the create is in flight and after it
// failed.
func TestUngrantedSubscriptionShowsItsAttempt(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	if err := h.m.Configure([]SubscriptionConfig{cfgP}); err != nil {
		t.Fatal(err)
	}
	c := h.expect(csbmsg.ActionCreate, 1)
	st := h.m.Snapshot()[0]
	if st.ProviderID != "p" || st.URL != cfgP.URL || st.ID != c.req.ID || st.Active || st.Status != StatusCreating {
		t.Fatalf("in flight: %+v", st)
	}
	c.reply <- reply{err: errors.New("no answer within the request timeout")}
	h.waitStatus(StatusRetrying)
	st = h.m.Snapshot()[0]
	if st.ProviderID != "p" || st.URL != cfgP.URL || st.ID != c.req.ID || st.Active || st.Failures != 1 || st.LastError == "" {
		t.Fatalf("after the failure: %+v", st)
	}
}
