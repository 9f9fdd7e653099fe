package placement

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// TestMemoBoundsTheBytesItKeeps: the memo's budget bounds what it holds in
// memory, not only how many answers. A request's strings (architecture,
// vlan, VLANlabel, Link rel) are part of its key and may each be as long as
// the codec's text limit (64 KiB); a consumer sending request after request
// with a new long architecture must not make the memo keep all of them
// until the catalogue changes.
func TestMemoBoundsTheBytesItKeeps(t *testing.T) {
	defer func(old int) { memoBudget = old }(memoBudget)
	memoBudget = 1000 // answers of about answerBytes each

	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})
	f.addService("a", iaasSvc("vm", "x64", 4, 8, 2, 100))
	p, err := New(Config{Catalog: f})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 4<<10)
	for i := 0; i < 300; i++ {
		d := mustPlace(t, p, iaasReq(fmt.Sprintf("%s%d", long, i), 1, 1), Options{})
		if d.Chosen() != nil {
			t.Fatalf("request %d placed on another architecture", i)
		}
		d.Release()
	}
	// The short shapes still are memoised.
	mustPlace(t, p, iaasReq("x64", 1, 1), Options{}).Release()

	idx := p.index(catalog.KindIaaS)
	idx.memo.mu.RLock()
	defer idx.memo.mu.RUnlock()
	kept := 0
	for w := range idx.memo.m {
		kept += len(w.arch) + len(w.vlan) + len(w.vlanLabel) + len(w.alloc) + len(w.capType) + len(w.rel)
	}
	if limit := memoBudget * answerBytes; kept > limit {
		t.Fatalf("the memo keeps %d bytes of request strings, over its budget of %d", kept, limit)
	}
	if _, ok := idx.memo.m[newWant(catalog.KindIaaS, iaasReq("x64", 1, 1))]; !ok {
		t.Fatal("a short request shape was not memoised")
	}
}
