package placement

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// honouredFake: provider "plain" is first in order and cheaper by the
// first policy; its adapter does not honour NetworkInterface/ip,
// "occi"'s does.
func honouredFake(t *testing.T) *Placer {
	t.Helper()
	f := newFake()
	for _, id := range []string{"plain", "occi"} {
		f.addProvider(catalog.ProviderEntry{ID: id})
		s := iaasSvc(id+"-s", "x64", 8, 16, 2, 100)
		s.IaaS.NetworkInterface = &csbmsg.NetworkInterface{}
		f.addService(id, s)
	}
	base := contract.Fields("IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/NetworkInterface")
	sets := map[string]contract.FieldSet{"plain": base, "occi": base.Union(contract.Fields("IaaS/NetworkInterface/ip"))}
	p, err := New(Config{Catalog: f, Honoured: func(id string, _ catalog.Kind) contract.FieldSet { return sets[id] }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ipReq() *csbmsg.ServiceRequest {
	r := iaasReq("", 2, 4)
	r.IaaS.NetworkInterface = &csbmsg.NetworkInterface{IP: ptr("10.0.0.5")}
	return r
}

// TestHonouredFieldsPlace: a field one candidate's adapter honours puts
// the request there, the other is rejected with the field named.
func TestHonouredFieldsPlace(t *testing.T) {
	p := honouredFake(t)
	d := mustPlace(t, p, ipReq(), Options{})
	if c := d.Chosen(); c == nil || c.ProviderID != "occi" {
		t.Fatalf("chosen %+v; explanation %+v", c, d.Explain())
	}
	e := d.Explain()[0]
	if e.ProviderID != "plain" || e.Matched || !strings.Contains(e.Note, "does not honour IaaS/NetworkInterface/ip") {
		t.Fatalf("plain: %+v", e)
	}
	if d.UnsupportedFields() != nil {
		t.Fatal("UnsupportedFields with a match")
	}
	// Without the field, configuration order wins again.
	if c := mustPlace(t, p, iaasReq("", 2, 4), Options{}).Chosen(); c == nil || c.ProviderID != "plain" {
		t.Fatalf("without ip: %+v", c)
	}
}

// TestHonouredFieldsNone: a field no adapter honours leaves no candidate
// and is named by UnsupportedFields; IgnoreUnhonoured places it anyway,
// saying what the chosen provider ignores.
func TestHonouredFieldsNone(t *testing.T) {
	p := honouredFake(t)
	r := ipReq()
	r.IaaS.NetworkInterface.MAC = ptr("aa:bb:cc:dd:ee:ff")
	d := mustPlace(t, p, r, Options{})
	if d.Chosen() != nil {
		t.Fatalf("placed: %+v", d.Explain())
	}
	if got := strings.Join(d.UnsupportedFields(), ","); got != "IaaS/NetworkInterface/mac,IaaS/NetworkInterface/ip" {
		t.Fatalf("UnsupportedFields %q", got)
	}
	d = mustPlace(t, p, r, Options{IgnoreUnhonoured: true})
	c := d.Chosen()
	if c == nil || c.ProviderID != "occi" || strings.Join(c.Unhonoured, ",") != "IaaS/NetworkInterface/mac" {
		t.Fatalf("lenient: %+v %+v", c, d.Explain())
	}
	if n := d.Explain()[1].Note; !strings.Contains(n, "would ignore IaaS/NetworkInterface/mac") {
		t.Fatalf("lenient note %q", n)
	}
}

// TestIgnoredFieldsKeepTheRotationFair: with IgnoreUnhonoured a provider
// whose adapter drops a field ranks behind those that honour it, whatever
// the policy scores. The rotation and the weights were moved by the
// candidate the policy put first, even when it ranked last: with "a"
// dropping the field, round_robin and weighted served b, b, c, b, b, c
// instead of alternating between b and c.
func TestIgnoredFieldsKeepTheRotationFair(t *testing.T) {
	for name, pol := range map[string]func() Policy{
		"round_robin": func() Policy { return &RoundRobin{} },
		"weighted":    func() Policy { return &Weighted{} },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			for _, id := range []string{"a", "b", "c"} {
				f.addProvider(catalog.ProviderEntry{ID: id})
				s := iaasSvc(id+"-s", "x64", 8, 16, 2, 100)
				s.IaaS.NetworkInterface = &csbmsg.NetworkInterface{}
				f.addService(id, s)
			}
			base := contract.Fields("IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/NetworkInterface")
			full := base.Union(contract.Fields("IaaS/NetworkInterface/ip"))
			sets := map[string]contract.FieldSet{"a": base, "b": full, "c": full}
			p, err := New(Config{Catalog: f, Policy: pol(), Honoured: func(id string, _ catalog.Kind) contract.FieldSet { return sets[id] }})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for i := 0; i < 6; i++ {
				dry := mustPlace(t, p, ipReq(), Options{IgnoreUnhonoured: true, DryRun: true})
				d := mustPlace(t, p, ipReq(), Options{IgnoreUnhonoured: true})
				if dry.Chosen().ProviderID != d.Chosen().ProviderID {
					t.Fatalf("decision %d: the dry run chose %s, the real one %s", i, dry.Chosen().ProviderID, d.Chosen().ProviderID)
				}
				if last := d.Ordered()[2]; last.ProviderID != "a" {
					t.Fatalf("decision %d: %s ranks last, not a, which drops a field", i, last.ProviderID)
				}
				got += d.Chosen().ProviderID
			}
			if got != "bcbcbc" {
				t.Fatalf("chosen %s, want bcbcbc", got)
			}
		})
	}
}
