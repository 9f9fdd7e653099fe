package catalog

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAuditPublishedBeatsDiscovered (README.md (Publish interface): "static beats
// published beats discovered"): TestStaticEntries and TestDiscovered show
// static over the two others; this shows published over discovered, in
// both orders of arrival.
func TestAuditPublishedBeatsDiscovered(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	if err := c.Configure([]ProviderConfig{{ID: "p"}}); err != nil {
		t.Fatal(err)
	}
	cores := func(id string) uint64 {
		t.Helper()
		for _, e := range c.Services("p") {
			if e.Service.ID == id {
				return *e.Service.IaaS.Compute.Cores
			}
		}
		t.Fatalf("no service %s", id)
		return 0
	}
	// Discovered first, then published: the published one replaces it.
	c.SetDiscovered("p", []csbmsg.Service{iaas("a", 1)}, t0.Add(time.Hour))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 8), iaas("b", 8)), true)
	if cores("a") != 8 {
		t.Fatalf("published a not applied over the discovered one: %d cores", cores("a"))
	}
	// Published first, then discovered: the discovery is shadowed.
	r := c.SetDiscovered("p", []csbmsg.Service{iaas("a", 1), iaas("b", 2), iaas("c", 2)}, t0.Add(time.Hour))
	eq(t, r.Shadowed, []string{"a", "b"})
	if cores("a") != 8 || cores("b") != 8 || cores("c") != 2 {
		t.Fatalf("after discovery: a %d, b %d, c %d cores", cores("a"), cores("b"), cores("c"))
	}
	for _, e := range c.Services("p") {
		want := SourcePublished
		if e.Service.ID == "c" {
			want = SourceDiscovered
		}
		if e.Source != want {
			t.Errorf("%s: source %s, want %s", e.Service.ID, e.Source, want)
		}
	}
}
