package placement

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// TestMaxPriceUsesTheServicePrice: a candidate's price is its service's
// configured price first (Config.Prices["<provider>/<service>"]), then its
// provider's, then its label's, and the request's maximum price is held
// against that price. A provider whose own price (or lack of one) is above
// the maximum, but whose matching service is configured below it, is a
// candidate at the service's price; one whose service is configured above
// it is not, whatever the provider's price.
func TestMaxPriceUsesTheServicePrice(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})                      // no price of its own
	f.addProvider(catalog.ProviderEntry{ID: "b", Label: "price:0.50"}) // above the maximum
	f.addProvider(catalog.ProviderEntry{ID: "c", Label: "price:0.01"}) // below it
	for _, id := range []string{"a", "b", "c"} {
		f.addService(id, iaasSvc("vm", "x64", 4, 8, 2, 100))
	}
	p, err := New(Config{Catalog: f, Order: []string{"a", "b", "c"},
		Prices: map[string]float64{"a/vm": 0.05, "b/vm": 0.08, "c/vm": 0.90}})
	if err != nil {
		t.Fatal(err)
	}
	d := mustPlace(t, p, iaasReq("", 1, 1), Options{MaxPrice: ptr(0.10)})
	want := map[string]struct {
		matched bool
		price   float64
	}{"a": {true, 0.05}, "b": {true, 0.08}, "c": {false, 0.90}}
	for _, c := range d.Candidates {
		w := want[c.ProviderID]
		if c.Matched != w.matched || c.Price != w.price || !c.HasPrice {
			t.Errorf("%s: matched %v at price %v (known %v), want matched %v at %v: %s",
				c.ProviderID, c.Matched, c.Price, c.HasPrice, w.matched, w.price, c.Reason())
		}
	}
	if ch := d.Chosen(); ch == nil || ch.ProviderID != "a" || ch.ServiceID != "vm" {
		t.Fatalf("chosen: %+v", d.Explain())
	}
}
