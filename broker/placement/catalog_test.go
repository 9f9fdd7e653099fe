package placement_test

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

func ptr[T any](v T) *T { return &v }

// The placer works on the real catalogue: published services with their
// provider's label and encryption support, deactivation leaving
// placement, and the index following the catalogue's version.
func TestPlacerOnRealCatalog(t *testing.T) {
	c, err := catalog.New(catalog.Options{SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if err := c.Configure([]catalog.ProviderConfig{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	vm := func(id string, cores uint64) csbmsg.Service {
		return csbmsg.Service{ID: id, Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(cores)}}}
	}
	c.ApplyNotification(&csbmsg.Notification{ID: "sa", SeqNumber: 1, Provider: csbmsg.Provider{ID: "a", Status: csbmsg.ServiceActive},
		Services: []csbmsg.Service{vm("a-small", 2), vm("a-big", 16)}, Label: "price:0.50"}, true)
	c.ApplyNotification(&csbmsg.Notification{ID: "sb", SeqNumber: 1, Provider: csbmsg.Provider{ID: "b", Status: csbmsg.ServiceActive},
		Services: []csbmsg.Service{vm("b-mid", 8)}, Label: "price:0.10", EncryptionSupport: ptr(true)}, true)

	p, err := placement.New(placement.Config{Catalog: c, Policy: &placement.Cheapest{}, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	req := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(4))}}}
	d, err := p.Place(req, placement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch := d.Chosen(); ch == nil || ch.ProviderID != "b" || ch.ServiceID != "b-mid" || len(d.Ranked) != 2 {
		t.Fatalf("cheapest: %+v", d.Explain())
	}
	if d.Ordered()[1].ServiceID != "a-big" {
		t.Fatalf("a's best fit for 4 cores: %+v", d.Explain())
	}
	enc := *req
	enc.Encryption = ptr(true)
	if d, _ := p.Place(&enc, placement.Options{}); d.Chosen() == nil || d.Chosen().ProviderID != "b" || len(d.Ranked) != 1 {
		t.Fatalf("encryption: %+v", d.Explain())
	}

	c.ApplyNotification(&csbmsg.Notification{ID: "sb", SeqNumber: 2, Provider: csbmsg.Provider{ID: "b", Status: csbmsg.ServiceDeactivated},
		Services: []csbmsg.Service{vm("b-mid", 8)}, Label: "price:0.10"}, true)
	d, _ = p.Place(req, placement.Options{})
	if ch := d.Chosen(); ch == nil || ch.ProviderID != "a" || len(d.Candidates) != 1 {
		t.Fatalf("after b deactivated: %+v", d.Explain())
	}
}

// TestUnhealthyProviderNamedInRefusal: a provider the broker marks
// unhealthy (catalog.SetHealthy) leaves placement with its services
// active; the refusal said "no active IaaS service", which sends the
// consumer and the operator looking at what it publishes.
func TestUnhealthyProviderNamedInRefusal(t *testing.T) {
	c, err := catalog.New(catalog.Options{SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if err := c.Configure([]catalog.ProviderConfig{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	c.ApplyNotification(&csbmsg.Notification{ID: "sa", SeqNumber: 1, Provider: csbmsg.Provider{ID: "a", Status: csbmsg.ServiceActive},
		Services: []csbmsg.Service{{ID: "vm", Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(4))}}}}}, true)
	p, err := placement.New(placement.Config{Catalog: c, Order: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	req := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(2))}}}
	c.SetHealthy("a", false)
	d, _ := p.Place(req, placement.Options{})
	if d.Chosen() != nil || !strings.Contains(d.NoMatchReason(), "a: "+placement.UnhealthyReason) {
		t.Fatalf("unhealthy a: %q", d.NoMatchReason())
	}
	c.SetHealthy("a", true)
	if d, _ := p.Place(req, placement.Options{}); d.Chosen() == nil {
		t.Fatalf("a healthy again: %q", d.NoMatchReason())
	}
}
