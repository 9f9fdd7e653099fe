package occi_test

import (
	"context"
	"testing"

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
