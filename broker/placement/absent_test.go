package placement

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestNoMatchNamesEveryProvider: the reason for "no provider can fulfil"
// names every configured provider, in configuration order, also those
// that have not notified yet, those deactivated, and those that offer
// nothing of the requested model.
func TestNoMatchNamesEveryProvider(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})
	f.addService("a", iaasSvc("vm", "x64", 8, 32, 3, 100))
	f.addProvider(catalog.ProviderEntry{ID: "c"})
	f.addService("c", iaasSvc("vm", "x64", 8, 32, 3, 100))
	f.setProviderStatus("c", csbmsg.ServiceDeactivated)
	f.addProvider(catalog.ProviderEntry{ID: "d"}) // notified, nothing of IaaS
	f.addService("d", csbmsg.Service{ID: "files", DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}})
	// e has only the placeholder entry its configuration makes; f
	// notified an empty list.
	f.addProvider(catalog.ProviderEntry{ID: "e", Source: catalog.SourceStatic})
	f.addProvider(catalog.ProviderEntry{ID: "f", Source: catalog.SourcePublished})
	p, err := New(Config{Catalog: f, Order: []string{"b", "a", "c", "d", "e", "f"}})
	if err != nil {
		t.Fatal(err)
	}
	d := mustPlace(t, p, iaasReq("", 64, 1), Options{})
	want := "no provider can fulfil the request: b: nothing published yet; a: no service with cores >= 64 (largest 8); " +
		"c: provider deactivated; d: no active IaaS service; e: nothing published yet; f: no services published"
	if d.Chosen() != nil || d.NoMatchReason() != want {
		t.Fatalf("reason\n got %q\nwant %q", d.NoMatchReason(), want)
	}
	// No candidate at all: still every provider.
	p, _ = New(Config{Catalog: newFake(), Order: []string{"cloud-a", "cloud-b"}})
	d = mustPlace(t, p, iaasReq("", 1, 1), Options{})
	want = "no provider offers an active IaaS service: cloud-a: nothing published yet; cloud-b: nothing published yet"
	if d.NoMatchReason() != want {
		t.Fatalf("empty catalogue\n got %q\nwant %q", d.NoMatchReason(), want)
	}
	// A match leaves no absent list behind in the pooled decision.
	d.Release()
	p, _ = New(Config{Catalog: f, Order: []string{"b", "a"}})
	if d = mustPlace(t, p, iaasReq("", 1, 1), Options{}); d.Chosen() == nil || len(d.Absent) != 0 {
		t.Fatalf("match: %+v", d)
	}
}
