package catalog

import (
	"errors"
	"fmt"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestScaleServicesPageWalk: walking the catalogue's pages while
// services are published and withdrawn between pages gives every service
// that existed throughout exactly once, in Snapshot's order.
func TestScaleServicesPageWalk(t *testing.T) {
	c := newCat(t, Options{})
	if err := c.Configure([]ProviderConfig{{ID: "zeta"}, {ID: "empty"}, {ID: "alpha"}}); err != nil {
		t.Fatal(err)
	}
	seqs := map[string]uint64{}
	publish := func(p string, from, to int, more ...int) {
		var svcs []csbmsg.Service
		for i := from; i < to; i++ {
			svcs = append(svcs, iaas(fmt.Sprintf("s%02d", i), 2))
		}
		for _, i := range more {
			svcs = append(svcs, iaas(fmt.Sprintf("s%02d", i), 2))
		}
		seqs[p]++
		c.ApplyNotification(notif("feed-"+p, seqs[p], p, svcs...), true)
	}
	publish("zeta", 0, 7)
	publish("alpha", 0, 5)
	publish("beta", 10, 14) // not configured: after the configured ones
	var want []string
	for _, pv := range c.Snapshot() {
		if len(pv.Services) == 0 {
			want = append(want, pv.Entry.ID+"/")
		}
		for _, s := range pv.Services {
			want = append(want, pv.Entry.ID+"/"+s.Service.ID)
		}
	}
	if len(want) != 17 || want[7] != "empty/" {
		t.Fatalf("snapshot %v", want)
	}
	var got []string
	after := ""
	for page := 0; page < 20; page++ {
		p, err := c.ServicesPage(PageQuery{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 && p.Total != 17 {
			t.Fatalf("total %d", p.Total)
		}
		k := 0
		for _, pv := range p.Providers {
			if len(pv.Services) == 0 {
				got = append(got, pv.Entry.ID+"/")
				k++
			}
			for _, s := range pv.Services {
				got = append(got, pv.Entry.ID+"/"+s.Service.ID)
				k++
			}
		}
		if k > 3 {
			t.Fatalf("page %d holds %d entries", page, k)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		if page == 1 {
			// zeta withdraws s00 (listed) and s06 (not yet), and adds s07.
			publish("zeta", 1, 6, 7)
		}
	}
	// What existed throughout, once each, in order; zeta/s06 withdrawn
	// before its page came; zeta/s07 is new (it may or may not be listed:
	// it is, after the page that ended in zeta's services).
	var expect []string
	for _, w := range want {
		if w != "zeta/s06" {
			expect = append(expect, w)
		}
	}
	j := 0
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("%s listed twice: %v", g, got)
		}
		seen[g] = true
		if g == "zeta/s07" {
			continue
		}
		if j >= len(expect) || g != expect[j] {
			t.Fatalf("walk %v, want %v", got, expect)
		}
		j++
	}
	if j != len(expect) {
		t.Fatalf("walk %v, want %v", got, expect)
	}

	// Filters count and list only what matches.
	p, err := c.ServicesPage(PageQuery{Kind: KindPaaS})
	if err != nil || p.Total != 0 || len(p.Providers) != 0 || p.Next != "" {
		t.Fatalf("PaaS page %+v %v", p, err)
	}
	p, err = c.ServicesPage(PageQuery{Providers: []string{"beta"}, Kind: KindIaaS, Limit: 2})
	if err != nil || p.Total != 4 || len(p.Providers) != 1 || len(p.Providers[0].Services) != 2 || p.Next == "" {
		t.Fatalf("beta's page %+v %v", p, err)
	}
	for _, bad := range []string{"!!", "YWJj"} { // not base64url; no separator
		if _, err := c.ServicesPage(PageQuery{After: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}
