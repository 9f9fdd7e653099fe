package placement_test

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// TestIndexFollowsAChangeAtTheSameInstant: a provider re-publishes a
// service with new content at the same clock reading as the last change
// (a stopped test clock here; a coarse wall clock, as on Windows, does
// the same to two notifications in one tick). The catalogue's version
// moves on, and placement must place on the new content, not reuse the
// provider's indexed services because their ids and update times did not
// change.
func TestIndexFollowsAChangeAtTheSameInstant(t *testing.T) {
	c, err := catalog.New(catalog.Options{SyncInterval: -1, Clock: clock.NewFake(time.Unix(1e9, 0))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if err := c.Configure([]catalog.ProviderConfig{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(seq, cores uint64) {
		c.ApplyNotification(&csbmsg.Notification{ID: "sa", SeqNumber: seq, Provider: csbmsg.Provider{ID: "a", Status: csbmsg.ServiceActive},
			Services: []csbmsg.Service{{ID: "vm", Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(cores)}}}}}, true)
	}
	publish(1, 2)
	p, err := placement.New(placement.Config{Catalog: c, Order: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	req := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(8))}}}
	if d, _ := p.Place(req, placement.Options{}); d.Chosen() != nil {
		t.Fatalf("2 cores placed a request for 8: %+v", d.Explain())
	}
	publish(2, 16)
	d, _ := p.Place(req, placement.Options{})
	if d.Chosen() == nil || d.Chosen().ServiceID != "vm" {
		t.Fatalf("placed on the service as it was before the change (catalogue version %d): %+v", d.Version, d.Explain())
	}
	if got := *d.Chosen().Service.Service.IaaS.Compute.Cores; got != 16 {
		t.Fatalf("chosen service entry has %d cores, the catalogue 16", got)
	}
	// And the other way: a shrunk service no longer takes the request.
	publish(3, 4)
	if d, _ := p.Place(req, placement.Options{}); d.Chosen() != nil {
		t.Fatalf("placed on a service shrunk to 4 cores: %+v", d.Explain())
	}
}
