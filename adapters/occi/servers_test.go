package occi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// Creates answered with the location only in the body (no Location
// header), and servers that refuse partial updates (PUT instead).
func TestServerVariants(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci, LocationInBodyOnly: true, NoPartialUpdate: true})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1)), Hostname: p("h1")}}})
	if !strings.HasPrefix(res.URI, srv.URL+"/compute/") {
		t.Fatalf("URI = %q", res.URI)
	}
	up, err := a.Update(context.Background(), res, &contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(4))}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, attrs, _ := srv.Entity(res.URI)
	if *up.Granted.IaaS.Compute.Cores != 4 || attrs["occi.compute.hostname"] != "h1" {
		t.Errorf("after PUT: granted cores %d, server %v", *up.Granted.IaaS.Compute.Cores, attrs)
	}
	var methods []string
	for _, r := range srv.Requests() {
		if r.Path == strings.TrimPrefix(res.URI, srv.URL) && r.Query == "" && r.Method != http.MethodGet {
			methods = append(methods, r.Method)
		}
	}
	if strings.Join(methods, ",") != "POST,PUT" {
		t.Errorf("update went %v, want POST then PUT", methods)
	}
}

// The recorded OpenNebula instances read as recorded: memory 0.256 GiB,
// links inline with space-separated attributes, an ipnetwork mixin under a
// scheme other than the one discovery declares.
func TestStatusOfRecordedInstance(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.OpenNebula})
	a := newAdapter(t, srv, nil)
	res := &contract.Resource{URI: srv.URL + "/compute/6c5f673c-e2e6-4fad-856c-d650587f0579", Native: map[string]string{
		"compute":          "/compute/6c5f673c-e2e6-4fad-856c-d650587f0579",
		"network":          "https://localhost:3300/network/e4bd81c4-adda-5626-840d-39bb7959db97", // as the server names it
		"storage":          "/storage/e60aa2b8-0c86-5973-b93e-30c5c46d6eac",
		"networkinterface": "/networkinterface/e75ab249-9325-511c-82b8-a7e4430381e3",
		"storagelink":      "/storagelink/b2f7f1de-c60c-5b08-879c-81f52429c4ef",
	}}
	st, err := a.Status(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	g := st.Granted.IaaS
	if st.State != contract.StateReady || *g.Compute.Cores != 1 || *g.Compute.Memory != 1 || *g.Compute.Architecture != "x86" || *g.Compute.Status != csbmsg.ComputeActive {
		b, _ := json.Marshal(g.Compute)
		t.Errorf("compute = %s (%s)", b, st.State)
	}
	if *g.NetworkInterface.IP != "192.168.254.4" || *g.NetworkInterface.MAC != "02:00:c0:a8:fe:04" || *g.NetworkInterface.Status != csbmsg.NetworkInactive {
		b, _ := json.Marshal(g.NetworkInterface)
		t.Errorf("networkinterface = %s", b)
	}
	if *g.StorageLink.DeviceID != "xvda" || *g.Storage.Status != csbmsg.StorageOnline {
		t.Errorf("storage %+v link %+v", g.Storage, g.StorageLink)
	}
	if *g.Network.Address != "192.168.254.0" || *g.Network.Allocation != csbmsg.AllocationDynamic || g.Network.VLAN != nil {
		b, _ := json.Marshal(g.Network)
		t.Errorf("network = %s (OpenNebula's vlan \"NO\" has no CSB value)", b)
	}
	// The links were read inline from the compute rendering: no GET of
	// their own locations.
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, "/networkinterface/") || strings.HasPrefix(r.Path, "/storagelink/") {
			t.Errorf("unexpected %s %s", r.Method, r.Path)
		}
	}
}

// Attaching to a configured existing network: it is linked, not created,
// and left alone on removal.
func TestSharedNetwork(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.OpenNebula})
	const public = "/network/d71df087-9a55-5228-822b-1f1a57107851"
	a := newAdapter(t, srv, func(c *occi.Config) { c.Network = public })
	before := srv.Count(occi.KindNetwork)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute:          &csbmsg.Compute{Cores: p(uint64(1))},
		NetworkInterface: &csbmsg.NetworkInterface{Interface: p("eth0")},
	}})
	if srv.Count(occi.KindNetwork) != before || res.Native["networkinterface"] == "" {
		t.Fatalf("networks %d→%d, native %v", before, srv.Count(occi.KindNetwork), res.Native)
	}
	_, _, attrs, _ := srv.Entity(res.Native["networkinterface"])
	if attrs["occi.core.target"] != public {
		t.Errorf("interface target = %q", attrs["occi.core.target"])
	}
	if err := a.Remove(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := srv.Entity(public); !ok {
		t.Error("the shared network was deleted")
	}
}

// An OCCI 1.2 server has no storage resize action: the size is changed by
// a partial update of occi.storage.size, and backup is refused before any
// request since the server does not declare it for storage.
func TestResizeWithoutResizeAction(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci, WithoutStorageActions: true})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(10))}}})
	up, err := a.Update(context.Background(), res, &contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(20)), Action: p(csbmsg.StorageActResize)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if *up.Granted.IaaS.Storage.Size != 20 {
		t.Errorf("size = %d", *up.Granted.IaaS.Storage.Size)
	}
	for _, r := range srv.Requests() {
		if r.Query == "action=resize" {
			t.Error("a resize action was sent to a server without one")
		}
	}
	_, err = a.Update(context.Background(), up, &contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: p(csbmsg.StorageActBackup)}}}})
	if contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("backup on a server without it: %v", err)
	}
}

// TestSharedNetworkIsJoinedAsItIs: with a configured network, the job
// joins it and the adapter neither changes nor switches it. A request
// that asks for another address, or an update that takes the network
// down, was answered as done while nothing of it happened (Provision
// joined the network as it was; applyActions skipped the shared network).
// Such requests are refused before anything changes; one that asks for
// the network's own values joins it.
func TestSharedNetworkIsJoinedAsItIs(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.OpenNebula})
	const public = "/network/d71df087-9a55-5228-822b-1f1a57107851"
	a := newAdapter(t, srv, func(c *occi.Config) { c.Network = public })
	ctx := context.Background()
	ask := func(n *csbmsg.Network) csbmsg.ServiceRequest {
		return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
			Compute:          &csbmsg.Compute{Cores: p(uint64(1))},
			Network:          n,
			NetworkInterface: &csbmsg.NetworkInterface{Interface: p("eth0")},
		}}
	}
	before := srv.Inventory()
	_, err := a.Provision(ctx, &contract.Request{JobID: "job-other", Want: ask(&csbmsg.Network{Address: p("10.9.0.0")}), Service: csbmsg.Service{ID: "occi"}})
	if contract.KindOf(err) != contract.KindUnsupported || srv.Inventory() != before {
		t.Fatalf("another address: %v, %d entities created", err, srv.Inventory()-before)
	}
	// The recorded network "public" is static, with no address stated.
	res := provision(t, a, ask(&csbmsg.Network{Allocation: p(csbmsg.AllocationStatic)}))
	if res.Native["network"] != srv.URL+public || res.Native["network_shared"] == "" {
		t.Fatalf("native %v", res.Native)
	}
	_, _, was, _ := srv.Entity(public)
	for name, n := range map[string]*csbmsg.Network{
		"down":     {Action: p(csbmsg.NetworkDown)},
		"inactive": {Status: p(csbmsg.NetworkInactive)},
		"address":  {Address: p("10.9.0.0")},
	} {
		_, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: n}}})
		if contract.KindOf(err) != contract.KindUnsupported {
			t.Errorf("update %s of the shared network: %v, want %s", name, err, contract.KindUnsupported)
		}
	}
	if _, _, is, _ := srv.Entity(public); is["occi.network.state"] != was["occi.network.state"] || is["occi.network.address"] != was["occi.network.address"] {
		t.Errorf("the shared network changed: %v → %v", was, is)
	}
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Allocation: p(csbmsg.AllocationStatic), Status: p(csbmsg.NetworkActive)}}}}); err != nil {
		t.Errorf("update asking the network's own allocation and status: %v", err)
	}
}
