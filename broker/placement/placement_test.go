package placement

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func mustPlace(t *testing.T, p *Placer, req *csbmsg.ServiceRequest, opt Options) *Decision {
	t.Helper()
	d, err := p.Place(req, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestIaaSMatching(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "small"})
	f.addProvider(catalog.ProviderEntry{ID: "big"})
	f.addProvider(catalog.ProviderEntry{ID: "arm"})
	f.addService("small", iaasSvc("s1", "x64", 2, 4, 2, 50))
	f.addService("big", iaasSvc("b-huge", "x64", 32, 256, 3, 2000))
	f.addService("big", iaasSvc("b-mid", "x64", 8, 32, 3, 500))
	f.addService("arm", iaasSvc("a1", "arm64", 16, 64, 2, 500))
	p, _ := New(Config{Catalog: f})

	cases := []struct {
		name    string
		req     *csbmsg.ServiceRequest
		chosen  string // provider/service, "" = none
		reasons map[string]string
	}{
		{"small fits first", iaasReq("x64", 2, 4), "small/s1", nil},
		{"cores minimum", iaasReq("x64", 4, 4), "big/b-mid", map[string]string{"small": "cores >= 4 (largest 2)", "arm": "architecture x64"}},
		{"best fit inside provider", iaasReq("", 9, 4), "big/b-huge", map[string]string{"small": "cores >= 9"}},
		{"architecture case-insensitive", iaasReq("ARM64", 1, 1), "arm/a1", map[string]string{"small": "architecture arm64 (offers x64)"}},
		{"memory combined", iaasReq("x64", 8, 300), "", map[string]string{"big": "memory >= 300 together"}},
		{"speed", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Speed: ptr(uint64(3))}}}, "big/b-mid", map[string]string{"small": "speed >= 3"}},
		{"storage size", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: ptr(uint64(1000))}}}, "big/b-huge", map[string]string{"small": "storage size >= 1000"}},
		{"network support needed", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{}}}, "", map[string]string{"small": "no service supports network"}},
		{"NetworkInterface support needed", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{NetworkInterface: &csbmsg.NetworkInterface{}}}, "", map[string]string{"big": "NetworkInterface"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustPlace(t, p, tc.req, Options{})
			got := ""
			if c := d.Chosen(); c != nil {
				got = c.ProviderID + "/" + c.ServiceID
			}
			if got != tc.chosen {
				t.Fatalf("chosen %q, want %q; explanation %+v", got, tc.chosen, d.Explain())
			}
			for prov, frag := range tc.reasons {
				found := false
				for _, e := range d.Explain() {
					if e.ProviderID == prov {
						found = true
						if !strings.Contains(e.Note, frag) {
							t.Errorf("%s: reason %q lacks %q", prov, e.Note, frag)
						}
					}
				}
				if !found {
					t.Errorf("%s not explained", prov)
				}
			}
		})
	}
}

func TestNetworkAndLinks(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "n1"})
	f.addProvider(catalog.ProviderEntry{ID: "n2"})
	dyn, st := csbmsg.AllocationDynamic, csbmsg.AllocationStatic
	f.addService("n1", csbmsg.Service{ID: "net", IaaS: &csbmsg.IaaS{
		Network:          &csbmsg.Network{VLAN: ptr("100-200"), VLANLabel: ptr("dmz"), Allocation: &dyn},
		NetworkInterface: &csbmsg.NetworkInterface{}, StorageLink: &csbmsg.StorageLink{},
	}})
	f.addService("n2", csbmsg.Service{ID: "net", IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{VLAN: ptr("343"), Allocation: &st}}})
	p, _ := New(Config{Catalog: f})
	net := func(vlan, label string, alloc *csbmsg.Allocation) *csbmsg.ServiceRequest {
		n := &csbmsg.Network{Allocation: alloc}
		if vlan != "" {
			n.VLAN = &vlan
		}
		if label != "" {
			n.VLANLabel = &label
		}
		return &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: n}}
	}
	for _, tc := range []struct {
		req  *csbmsg.ServiceRequest
		want string
	}{
		{net("150", "", nil), "n1"},
		{net("343", "", nil), "n2"},
		{net("343", "dmz", nil), ""},
		{net("", "", &st), "n2"},
		{net("120", "dmz", &dyn), "n1"},
		{&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{}, StorageLink: &csbmsg.StorageLink{}}}, "n1"},
	} {
		d := mustPlace(t, p, tc.req, Options{})
		got := ""
		if c := d.Chosen(); c != nil {
			got = c.ProviderID
		}
		if got != tc.want {
			t.Errorf("got %q want %q: %s", got, tc.want, d.NoMatchReason())
		}
	}

	// PaaS/SaaS: Link rel offered.
	f.addService("n2", csbmsg.Service{ID: "paas-go", PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "go"}}})
	f.addService("n1", csbmsg.Service{ID: "saas-mail", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "mail"}}})
	d := mustPlace(t, p, &csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "go"}}}, Options{})
	if c := d.Chosen(); c == nil || c.ServiceID != "paas-go" {
		t.Fatalf("PaaS go: %+v", d.Explain())
	}
	d = mustPlace(t, p, &csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "java"}}}, Options{})
	if d.Chosen() != nil || !strings.Contains(d.NoMatchReason(), `Link rel "java"`) {
		t.Fatalf("PaaS java: %s", d.NoMatchReason())
	}
	d = mustPlace(t, p, &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{}}, Options{})
	if c := d.Chosen(); c == nil || c.ServiceID != "saas-mail" {
		t.Fatalf("SaaS any: %+v", d.Explain())
	}
}

func TestDSaaSObjects(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "objects"})
	f.addProvider(catalog.ProviderEntry{ID: "queues"})
	f.addService("objects", csbmsg.Service{ID: "full", DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}, ContainerObject: &csbmsg.ContainerObject{}, DomainObject: &csbmsg.DomainObject{}}})
	f.addService("objects", csbmsg.Service{ID: "plain", DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}, ContainerObject: &csbmsg.ContainerObject{}}})
	f.addService("queues", csbmsg.Service{ID: "q", DSaaS: &csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}, Link: &csbmsg.Link{Rel: "amqp"}}})
	p, _ := New(Config{Catalog: f})
	ds := func(d *csbmsg.DSaaS) *csbmsg.ServiceRequest { return &csbmsg.ServiceRequest{DSaaS: d} }
	for _, tc := range []struct {
		req  *csbmsg.ServiceRequest
		want string
	}{
		{ds(&csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}), "objects/plain"}, // narrowest support set
		{ds(&csbmsg.DSaaS{DomainObject: &csbmsg.DomainObject{}, DataObject: &csbmsg.DataObject{}}), "objects/full"},
		{ds(&csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}}), "queues/q"},
		{ds(&csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}, Link: &csbmsg.Link{Rel: "amqp"}}), "queues/q"},
		{ds(&csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}, Link: &csbmsg.Link{Rel: "mqtt"}}), ""},
		{ds(&csbmsg.DSaaS{CapabilityObject: &csbmsg.CapabilityObject{}}), ""},
	} {
		d := mustPlace(t, p, tc.req, Options{})
		got := ""
		if c := d.Chosen(); c != nil {
			got = c.ProviderID + "/" + c.ServiceID
		}
		if got != tc.want {
			t.Errorf("got %q want %q: %+v", got, tc.want, d.Explain())
		}
	}
	d := mustPlace(t, p, ds(&csbmsg.DSaaS{CapabilityObject: &csbmsg.CapabilityObject{}}), Options{})
	if r := d.NoMatchReason(); !strings.Contains(r, "objects: no service supports CapabilityObject") {
		t.Errorf("reason %q", r)
	}
}

func TestEncryptionAccessExclude(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "plain"})
	f.addProvider(catalog.ProviderEntry{ID: "secure", EncryptionSupport: ptr(true)})
	f.addProvider(catalog.ProviderEntry{ID: "other", EncryptionSupport: ptr(true)})
	for _, id := range []string{"plain", "secure", "other"} {
		f.addService(id, iaasSvc("vm", "x64", 4, 8, 2, 100))
	}
	p, _ := New(Config{Catalog: f})
	req := iaasReq("x64", 1, 1)
	req.Encryption = ptr(true)
	d := mustPlace(t, p, req, Options{})
	if c := d.Chosen(); c == nil || c.ProviderID != "secure" {
		t.Fatalf("encryption: %+v", d.Explain())
	}
	if !strings.Contains(d.Candidates[0].Reason(), "encryption") {
		t.Errorf("plain reason %q", d.Candidates[0].Reason())
	}
	d = mustPlace(t, p, req, Options{Access: &Access{Deny: []string{"secure"}}})
	if c := d.Chosen(); c == nil || c.ProviderID != "other" {
		t.Fatalf("deny: %+v", d.Explain())
	}
	d = mustPlace(t, p, iaasReq("", 1, 1), Options{Access: &Access{Allow: []string{"other", "plain"}}, Exclude: []string{"plain"}})
	if c := d.Chosen(); c == nil || c.ProviderID != "other" || len(d.Ranked) != 1 {
		t.Fatalf("allow+exclude: %+v", d.Explain())
	}
	if r := d.Candidates[1].Reason(); r != "not on this user's allow list" {
		t.Errorf("allow reason %q", r)
	}
}

func TestRequestErrors(t *testing.T) {
	p, _ := New(Config{Catalog: newFake()})
	_, err := p.Place(&csbmsg.ServiceRequest{}, Options{})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 400 {
		t.Fatalf("empty: %v", err)
	}
	_, err = p.Place(&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}, DSaaS: &csbmsg.DSaaS{}}, Options{})
	if !errors.As(err, &re) || re.Status != 420 {
		t.Fatalf("two kinds: %v", err)
	}
	d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
	if d.Chosen() != nil || d.NoMatchReason() != "no provider offers an active IaaS service" {
		t.Fatalf("empty catalogue: %q", d.NoMatchReason())
	}
}

func TestIndexFollowsVersion(t *testing.T) {
	f := newFake()
	f.addProvider(catalog.ProviderEntry{ID: "a"})
	f.addProvider(catalog.ProviderEntry{ID: "b"})
	f.addService("a", iaasSvc("a1", "x64", 2, 2, 1, 10))
	f.addService("b", iaasSvc("b1", "x64", 2, 2, 1, 10))
	p, _ := New(Config{Catalog: f})
	for i := 0; i < 5; i++ {
		mustPlace(t, p, iaasReq("", 1, 1), Options{})
	}
	if f.placeable != 1 {
		t.Fatalf("index rebuilt %d times for an unchanged catalogue", f.placeable)
	}
	f.setProviderStatus("a", csbmsg.ServiceDeactivated)
	d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
	if c := d.Chosen(); c == nil || c.ProviderID != "b" || len(d.Candidates) != 1 {
		t.Fatalf("after deactivation: %+v", d.Explain())
	}
	// b's group is reused, not rebuilt: same service pointer.
	before := d.Candidates[0].svc
	f.addService("a", iaasSvc("a2", "x64", 8, 8, 1, 10))
	f.setProviderStatus("a", csbmsg.ServiceActive)
	d = mustPlace(t, p, iaasReq("", 4, 1), Options{})
	if c := d.Chosen(); c == nil || c.ServiceID != "a2" {
		t.Fatalf("new service: %+v", d.Explain())
	}
	if d.Candidates[1].svc != nil && d.Candidates[1].svc != before {
		t.Errorf("unchanged provider group rebuilt")
	}
}

func TestMatches(t *testing.T) {
	e := &catalog.ServiceEntry{ProviderID: "p", Kind: catalog.KindIaaS, Service: iaasSvc("vm", "x64", 4, 8, 2, 100)}
	if ok, why := Matches(e, false, iaasReq("x64", 4, 8)); !ok {
		t.Fatal(why)
	}
	if ok, why := Matches(e, false, iaasReq("x64", 8, 8)); ok || !strings.Contains(why, "cores >= 8") {
		t.Fatalf("resize beyond: %v %q", ok, why)
	}
	if ok, _ := Matches(e, false, &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}); ok {
		t.Fatal("kind change accepted")
	}
}

func TestParsePriceLabel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"price:0.12", 0.12, true},
		{"price=3", 3, true},
		{"gold.price:1.5_eu", 1.5, true},
		{"Price:2.", 2, true},
		{"unitprice:4", 0, false},
		{"price:", 0, false},
		{"tier-gold", 0, false},
		{"", 0, false},
	} {
		got, ok := ParsePriceLabel(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %v %v want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParsePriceLabelWholeNumber: a label price is read whole or not at
// all. The parser stopped at the first character that is not a digit or
// the decimal point, so "price:1e2" (an NMTOKEN) was read as 1, not 100:
// the provider ranked as the cheapest, passed a Csb-Max-Price of 5 and
// its jobs were charged a hundredth of its price; "price:2.5e-2" was read
// as 2.5, a hundred times too much. A number running on into other
// letters or digits ("price:1x5") is not a price at all.
func TestParsePriceLabelWholeNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"price:1e2", 100, true},
		{"price:2.5e-2", 0.025, true},
		{"price:2.5E+1_eu", 25, true},
		{"gold.price:.5", 0.5, true},
		{"price:1.2.3", 1.2, true}, // "." separates items
		{"price:1x5", 0, false},
		{"price:0.12eur", 0, false},
		{"price:1e", 0, false},
		{"price:1e999", 0, false}, // +Inf is no price
		{"price:.", 0, false},
		{"price:1x5.price:3", 3, true},
	} {
		got, ok := ParsePriceLabel(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %v %v want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
