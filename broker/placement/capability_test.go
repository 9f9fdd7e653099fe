package placement

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestCapabilityObjectType: a DSaaS request naming a CapabilityObject type
// is placed only on a service whose CapabilityObject-support declares that
// type, by Place and by Matches (updates).
func TestCapabilityObjectType(t *testing.T) {
	capSvc := func(id string, typ csbmsg.CapabilityType) csbmsg.Service {
		c := &csbmsg.CapabilityObject{}
		if typ != "" {
			c.Type = &typ
		}
		return csbmsg.Service{ID: id, DSaaS: &csbmsg.DSaaS{CapabilityObject: c}}
	}
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "sys"})
	f.addProvider(catalog.ProviderEntry{ID: "queues"})
	f.addService("sys", capSvc("untyped", ""))
	f.addService("sys", capSvc("system", csbmsg.CapSystemWide))
	f.addService("queues", capSvc("queue", csbmsg.CapQueueObject))
	p, _ := New(Config{Catalog: f})
	req := func(typ csbmsg.CapabilityType) *csbmsg.ServiceRequest {
		c := &csbmsg.CapabilityObject{}
		if typ != "" {
			c.Type = &typ
		}
		return &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{CapabilityObject: c}}
	}
	for _, tc := range []struct {
		typ  csbmsg.CapabilityType
		want string
	}{
		{"", "sys/"}, // any service of the first provider
		{csbmsg.CapSystemWide, "sys/system"},
		{csbmsg.CapQueueObject, "queues/queue"},
		{csbmsg.CapDomain, ""},
	} {
		d := mustPlace(t, p, req(tc.typ), Options{})
		got := ""
		if c := d.Chosen(); c != nil {
			got = c.ProviderID + "/" + c.ServiceID
		}
		if got != tc.want && (tc.typ != "" || !strings.HasPrefix(got, tc.want)) {
			t.Errorf("type %q: got %q want %q: %+v", tc.typ, got, tc.want, d.Explain())
		}
		if tc.want == "" {
			if r := d.NoMatchReason(); !strings.Contains(r, "CapabilityObject type "+string(tc.typ)+" not offered") {
				t.Errorf("type %q: reason %q", tc.typ, r)
			}
		}
	}
	e := &catalog.ServiceEntry{Kind: catalog.KindDSaaS, Service: capSvc("queue", csbmsg.CapQueueObject)}
	if ok, _ := Matches(e, false, req(csbmsg.CapQueueObject)); !ok {
		t.Error("Matches: the declared type does not match")
	}
	if ok, why := Matches(e, false, req(csbmsg.CapDomain)); ok || !strings.Contains(why, "CapabilityObject type") {
		t.Errorf("Matches: another type: %v %q", ok, why)
	}
}
