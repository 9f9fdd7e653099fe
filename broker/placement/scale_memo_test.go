package placement

import (
	"fmt"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// TestScaleMemoFollowsTheCatalogue: a repeated request shape is answered
// from the memo until the catalogue changes; then the new best fit wins,
// and a request that differs in any field the index reads is not
// answered with another shape's memo.
func TestScaleMemoFollowsTheCatalogue(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})
	f.addProvider(catalog.ProviderEntry{ID: "b"})
	f.addService("a", iaasSvc("a-big", "x86", 16, 64, 1, 100))
	f.addService("b", iaasSvc("b-mid", "x86", 8, 32, 1, 100))
	p, err := New(Config{Catalog: f, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	chosen := func(cores uint64) string {
		t.Helper()
		d, err := p.Place(iaasReq("x86", cores, 4), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Release()
		out := ""
		for _, c := range d.Candidates {
			out += fmt.Sprintf("%s:%s ", c.ProviderID, c.ServiceID)
		}
		return out
	}
	if got := chosen(4); got != "a:a-big b:b-mid " {
		t.Fatalf("first: %s", got)
	}
	if got := chosen(4); got != "a:a-big b:b-mid " { // from the memo
		t.Fatalf("repeated: %s", got)
	}
	if got := chosen(12); got != "a:a-big b: " { // another shape
		t.Fatalf("12 cores: %s", got)
	}
	f.addService("a", iaasSvc("a-small", "x86", 4, 16, 1, 100)) // a new version
	if got := chosen(4); got != "a:a-small b:b-mid " {
		t.Fatalf("after the change: %s", got)
	}
	if got := chosen(12); got != "a:a-big b: " {
		t.Fatalf("12 cores after the change: %s", got)
	}
}
