package occi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// An update that adds a storage and a network to a compute-only job
// creates them and links them to the compute (a storagelink with the
// requested attributes, a networkinterface without any), and a later
// update changes the link's attributes in place.
func TestUpdateAddsLinkedEntities(t *testing.T) {
	ctx := context.Background()
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}})
	want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Storage:     &csbmsg.Storage{Size: p(uint64(5))},
		StorageLink: &csbmsg.StorageLink{DeviceID: p("xvdb")},
		Network:     &csbmsg.Network{VLAN: p("7")},
	}}
	up, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: want})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, key := range []string{"storage", "network", "storagelink", "networkinterface"} {
		if up.Native[key] == "" {
			t.Errorf("after the update the job holds no %s: %v", key, up.Native)
		}
	}
	g := up.Granted.IaaS
	if g.StorageLink == nil || g.StorageLink.DeviceID == nil || *g.StorageLink.DeviceID != "xvdb" || g.NetworkInterface == nil {
		t.Fatalf("granted links after the update: storagelink %+v, networkinterface %+v", g.StorageLink, g.NetworkInterface)
	}
	sl := up.Native["storagelink"]
	want = csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{StorageLink: &csbmsg.StorageLink{DeviceID: p("xvdc")}}}
	if up, err = a.Update(ctx, up, &contract.Request{JobID: "job-1", Want: want}); err != nil {
		t.Fatalf("second update: %v", err)
	}
	if up.Native["storagelink"] != sl || *up.Granted.IaaS.StorageLink.DeviceID != "xvdc" {
		t.Errorf("storagelink %s (was %s), deviceid %s", up.Native["storagelink"], sl, *up.Granted.IaaS.StorageLink.DeviceID)
	}
}

// TestAFailedUpdateLeavesNothingItCreated: the broker keeps the job's
// Resource as it was when Update fails (it records only a successful
// update's Resource). An update that added a storage to a compute-only
// job and then failed (the server refused the storagelink) returned the
// storage only in the Resource the broker drops: Remove of the job never
// deleted it, and it stayed at the provider for good. So did a storage
// whose create answer was lost. A failed update now removes what it
// created, found by the job's title when its answer was lost.
func TestAFailedUpdateLeavesNothingItCreated(t *testing.T) {
	for _, c := range []struct {
		name   string
		fail   func(srv *occitest.Server, l *loser)
		status int
	}{
		{"link refused", func(srv *occitest.Server, _ *loser) {
			srv.FailNext(http.MethodPost, "/storagelink/", http.StatusBadRequest, 1)
		}, 0},
		{"storage answer lost", func(_ *occitest.Server, l *loser) { l.loseNext(http.MethodPost, "/storage/", "", false) }, 0},
		{"link answer lost", func(_ *occitest.Server, l *loser) { l.loseNext(http.MethodPost, "/storagelink/", "", false) }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
			l := newLoser(t, srv.URL)
			a, err := occi.New(occi.Config{Endpoint: l.URL, RetryBackoff: -1, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Provision(ctx, &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}, Service: csbmsg.Service{ID: "occi"}})
			if err != nil {
				t.Fatal(err)
			}
			c.fail(srv, l)
			want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(5))}, StorageLink: &csbmsg.StorageLink{DeviceID: p("xvdb")}}}
			if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: want}); err == nil {
				t.Fatal("the update succeeded")
			}
			// The broker keeps res as it was, and removes the job with it.
			if err := a.Remove(ctx, res); err != nil {
				t.Fatal(err)
			}
			if n := srv.Inventory(); n != 0 {
				t.Errorf("%d entities left after the failed update and the job's removal (storage %d, storagelink %d)", n, srv.Count(occi.KindStorage), srv.Count(occi.KindStorageLink))
			}
		})
	}
}

// TestAFailedUpdateLeavesNoLinkToTheSharedNetwork: a link created unseen
// (its answer lost) to an entity the update did not create, here the
// configured shared network, is found in the compute's rendering and
// removed when the update fails.
func TestAFailedUpdateLeavesNoLinkToTheSharedNetwork(t *testing.T) {
	ctx := context.Background()
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.OpenNebula})
	const public = "/network/d71df087-9a55-5228-822b-1f1a57107851"
	l := newLoser(t, srv.URL)
	a, err := occi.New(occi.Config{Endpoint: l.URL, Network: public, RetryBackoff: -1, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}, Service: csbmsg.Service{ID: "occi"}})
	if err != nil {
		t.Fatal(err)
	}
	links := srv.Count(occi.KindNetworkInterface)
	l.loseNext(http.MethodPost, "/networkinterface/", "", false)
	want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{NetworkInterface: &csbmsg.NetworkInterface{Interface: p("eth0")}}}
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: want}); err == nil {
		t.Fatal("the update succeeded")
	}
	if l.losses() != 1 {
		t.Fatalf("%d answers lost, want 1", l.losses())
	}
	if n := srv.Count(occi.KindNetworkInterface); n != links {
		t.Errorf("%d network interfaces after the failed update, %d before", n, links)
	}
	if _, _, _, ok := srv.Entity(public); !ok {
		t.Error("the shared network was deleted")
	}
}
