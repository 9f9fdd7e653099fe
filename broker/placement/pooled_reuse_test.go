package placement

import (
	"reflect"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// TestPooledDecisionKeepsNothingOfTheLast: a decision handed back with
// Release is reused by the next Place, which writes each candidate whole.
// A candidate that matched in the earlier decision and is rejected in the
// next one must not keep the earlier match's service, score, price or
// ignored fields. sync.Pool may hand out a fresh decision instead (it
// drops some under the race detector), so the pair runs many times.
func TestPooledDecisionKeepsNothingOfTheLast(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})
	f.addService("a", iaasSvc("vm", "x64", 8, 32, 3, 100))
	f.addProvider(catalog.ProviderEntry{ID: "b"})
	f.addService("b", iaasSvc("vm", "x64", 2, 4, 3, 100))
	p, err := New(Config{Catalog: f, Order: []string{"a", "b"}, Prices: map[string]float64{"a": 1, "b": 2}})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		d := mustPlace(t, p, iaasReq("x64", 1, 1), Options{})
		if len(d.Ranked) != 2 {
			t.Fatalf("both should match a small request: %+v", d.Candidates)
		}
		d.Release()
		// Only a has 8 cores: b is rejected, after it matched above.
		d = mustPlace(t, p, iaasReq("x64", 8, 1), Options{})
		if len(d.Candidates) != 2 || len(d.Ranked) != 1 {
			t.Fatalf("only a should match: %+v", d.Candidates)
		}
		for _, c := range d.Candidates {
			if c.ProviderID != "b" {
				continue
			}
			if c.Rank != -1 || c.Reason() == "" {
				t.Fatalf("rejected candidate ranked: %+v", c)
			}
			// Every field a match sets, and any field added later, is
			// zero on a rejected candidate: only these describe it.
			v := reflect.ValueOf(c)
			for i := 0; i < v.NumField(); i++ {
				switch name := v.Type().Field(i).Name; name {
				case "ProviderID", "Order", "Rank", "Label", "LabelPrice", "HasLabelPrice", "Price", "HasPrice", "Encryption", "rej":
				default:
					if !v.Field(i).IsZero() {
						t.Fatalf("rejected candidate keeps the last decision's %s: %+v", name, c)
					}
				}
			}
		}
		d.Release()
	}
}
