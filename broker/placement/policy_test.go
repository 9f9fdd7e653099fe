package placement

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// threeProviders is a catalogue where a, b and c all match iaasReq("",1,1).
func threeProviders(labels ...string) *fakeCatalog {
	f := newFake()
	for i, id := range []string{"a", "b", "c"} {
		pe := catalog.ProviderEntry{ID: id}
		if i < len(labels) {
			pe.Label = labels[i]
		}
		f.addProvider(pe)
		f.addService(id, iaasSvc("vm", "x64", 4, 8, 2, 100))
	}
	return f
}

func sequence(t *testing.T, p *Placer, n int) string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		out = append(out, d.Chosen().ProviderID)
	}
	return strings.Join(out, "")
}

func TestPolicies(t *testing.T) {
	t.Run("first", func(t *testing.T) {
		p, _ := New(Config{Catalog: threeProviders(), Policy: First{}, Order: []string{"c", "a", "b"}})
		if got := sequence(t, p, 3); got != "ccc" {
			t.Fatalf("got %s", got)
		}
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		var ranked []string
		for _, c := range d.Ordered() {
			ranked = append(ranked, c.ProviderID)
		}
		if strings.Join(ranked, "") != "cab" {
			t.Fatalf("ranking %v", ranked)
		}
	})
	t.Run("round_robin", func(t *testing.T) {
		p, _ := New(Config{Catalog: threeProviders(), Policy: &RoundRobin{}})
		if got := sequence(t, p, 7); got != "abcabca" {
			t.Fatalf("got %s", got)
		}
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		// After "a" was chosen last, the next is b, then c, then a.
		if got := fmt.Sprint(d.Ordered()[0].ProviderID, d.Ordered()[1].ProviderID, d.Ordered()[2].ProviderID); got != "bca" {
			t.Fatalf("rotation ranking %s", got)
		}
	})
	t.Run("random seeded", func(t *testing.T) {
		p1, _ := New(Config{Catalog: threeProviders(), Policy: NewRandom(42)})
		p2, _ := New(Config{Catalog: threeProviders(), Policy: NewRandom(42)})
		s1, s2 := sequence(t, p1, 30), sequence(t, p2, 30)
		if s1 != s2 {
			t.Fatalf("same seed, different draws: %s %s", s1, s2)
		}
		for _, id := range []string{"a", "b", "c"} {
			if !strings.Contains(s1, id) {
				t.Fatalf("%s never drawn in %s", id, s1)
			}
		}
	})
	t.Run("least_loaded jobs", func(t *testing.T) {
		loads := map[string]Load{"a": {Jobs: 5}, "b": {Jobs: 1}, "c": {Jobs: 1}}
		p, _ := New(Config{Catalog: threeProviders(), Policy: &LeastLoaded{}, Load: func(id string) Load { return loads[id] }})
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		if d.Chosen().ProviderID != "b" { // tie b/c → configuration order
			t.Fatalf("%+v", d.Explain())
		}
		if n := d.Explain()[0].Note; n != "5 live jobs" {
			t.Fatalf("note %q", n)
		}
	})
	t.Run("least_loaded capacity", func(t *testing.T) {
		loads := map[string]Load{"a": {Jobs: 1, Cores: 1}, "b": {Jobs: 0, Cores: 4, MemoryGB: 8}, "c": {Jobs: 9, StorageGB: 2}}
		p, _ := New(Config{Catalog: threeProviders(), Policy: &LeastLoaded{By: "capacity"}, Load: func(id string) Load { return loads[id] }})
		if got := mustPlace(t, p, iaasReq("", 1, 1), Options{}).Chosen().ProviderID; got != "a" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("weighted", func(t *testing.T) {
		p, _ := New(Config{Catalog: threeProviders(), Policy: &Weighted{Weights: map[string]int{"a": 5, "b": 1, "c": 1}}})
		if got := sequence(t, p, 14); got != "aabacaaaabacaa" {
			t.Fatalf("got %s", got)
		}
		p, _ = New(Config{Catalog: threeProviders(), Policy: &Weighted{Weights: map[string]int{"a": 0}}})
		if got := sequence(t, p, 4); got != "bcbc" {
			t.Fatalf("weight 0: got %s", got)
		}
	})
	t.Run("cheapest", func(t *testing.T) {
		f := threeProviders("price:0.30", "gold.price:0.10", "")
		p, _ := New(Config{Catalog: f, Policy: &Cheapest{}})
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		if d.Chosen().ProviderID != "b" || d.Explain()[2].Note != "no price known" {
			t.Fatalf("label prices: %+v", d.Explain())
		}
		p, _ = New(Config{Catalog: f, Policy: &Cheapest{Prices: map[string]float64{"c": 0.05, "a/vm": 0.01}}})
		d = mustPlace(t, p, iaasReq("", 1, 1), Options{})
		if d.Chosen().ProviderID != "a" || !strings.Contains(d.Summary(), "configured service price 0.01") {
			t.Fatalf("config prices: %s", d.Summary())
		}
		// Equal prices: configuration order.
		p, _ = New(Config{Catalog: threeProviders("price:1", "price:1", "price:1"), Policy: &Cheapest{}, Order: []string{"c", "b", "a"}})
		if got := mustPlace(t, p, iaasReq("", 1, 1), Options{}).Chosen().ProviderID; got != "c" {
			t.Fatalf("tie: %s", got)
		}
	})
}

func TestSummaryNamesProvider(t *testing.T) {
	p, _ := New(Config{Catalog: threeProviders()})
	s := mustPlace(t, p, iaasReq("", 1, 1), Options{}).Summary()
	if !strings.Contains(s, "provider a, service vm: chosen by policy first") || !strings.Contains(s, "3 matching of 3") {
		t.Fatalf("summary %q", s)
	}
}
