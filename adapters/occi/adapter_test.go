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

func p[T any](v T) *T { return &v }

func newAdapter(t *testing.T, srv *occitest.Server, mod func(*occi.Config)) *occi.Adapter {
	t.Helper()
	cfg := occi.Config{Endpoint: srv.URL, RetryBackoff: -1}
	if mod != nil {
		mod(&cfg)
	}
	a, err := occi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fullIaaS asks for everything the draft's IaaS element can hold.
func fullIaaS() csbmsg.ServiceRequest {
	return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute:          &csbmsg.Compute{Architecture: p("x86_64"), Cores: p(uint64(2)), Memory: p(uint64(4)), Speed: p(uint64(2)), Hostname: p("vm1.example.org")},
		Storage:          &csbmsg.Storage{Size: p(uint64(20))},
		Network:          &csbmsg.Network{VLAN: p("42"), VLANLabel: p("backend"), Address: p("10.1.0.0/24"), Gateway: p("10.1.0.1"), Allocation: p(csbmsg.AllocationStatic)},
		NetworkInterface: &csbmsg.NetworkInterface{Interface: p("eth0"), MAC: p("02:00:c0:a8:fe:04"), IP: p("10.1.0.5"), Gateway: p("10.1.0.1"), Allocation: p(csbmsg.AllocationStatic)},
		StorageLink:      &csbmsg.StorageLink{DeviceID: p("xvdb"), Mountpoint: p("/data")},
	}}
}

func provision(t *testing.T, a *occi.Adapter, want csbmsg.ServiceRequest) *contract.Resource {
	t.Helper()
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-1", Want: want, Service: csbmsg.Service{ID: "occi"}})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return res
}

// roundTrip persists and reloads a resource, as the broker does.
func roundTrip(t *testing.T, res *contract.Resource) *contract.Resource {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var out contract.Resource
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestProvisionStatusUpdateRemove(t *testing.T) {
	for _, rendering := range []string{occi.MediaTextPlain, occi.MediaTextOCCI} {
		t.Run(strings.ReplaceAll(rendering, "/", "_"), func(t *testing.T) {
			srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
			a := newAdapter(t, srv, func(c *occi.Config) { c.Rendering = rendering })
			ctx := context.Background()
			res := provision(t, a, fullIaaS())

			if res.State != contract.StateReady {
				t.Errorf("state = %s", res.State)
			}
			if !strings.HasPrefix(res.URI, srv.URL+"/compute/") {
				t.Errorf("URI = %s", res.URI)
			}
			for _, k := range []string{"compute", "storage", "network", "networkinterface", "storagelink"} {
				if _, _, _, ok := srv.Entity(res.Native[k]); !ok {
					t.Errorf("%s %q not at the server", k, res.Native[k])
				}
			}
			// What the server holds, in OCCI's units and spellings.
			kind, _, attrs, _ := srv.Entity(res.Native["compute"])
			if kind != occi.KindCompute || attrs["occi.compute.architecture"] != "x64" || attrs["occi.compute.memory"] != "4" ||
				attrs["occi.compute.cores"] != "2" || attrs["occi.compute.state"] != "active" || attrs["occi.core.title"] != "job-1" {
				t.Errorf("compute at the server = %v", attrs)
			}
			_, nmix, nattrs, _ := srv.Entity(res.Native["network"])
			if nattrs["occi.network.vlan"] != "42" || nattrs["occi.network.address"] != "10.1.0.0/24" || len(nmix) != 1 || nmix[0] != occi.MixinIPNetwork {
				t.Errorf("network at the server = %v %v", nmix, nattrs)
			}
			_, imix, iattrs, _ := srv.Entity(res.Native["networkinterface"])
			if iattrs["occi.networkinterface.address"] != "10.1.0.5" || len(imix) != 1 || imix[0] != occi.MixinIPNetworkInterface ||
				!strings.HasPrefix(iattrs["occi.core.source"], "/compute/") || !strings.HasPrefix(iattrs["occi.core.target"], "/network/") {
				t.Errorf("networkinterface at the server = %v %v", imix, iattrs)
			}
			_, _, sattrs, _ := srv.Entity(res.Native["storage"])
			if sattrs["occi.storage.size"] != "20" || sattrs["occi.storage.state"] != "online" {
				t.Errorf("storage at the server = %v", sattrs)
			}

			// Granted echoes the actual values in CSB terms.
			g := res.Granted.IaaS
			if g == nil || g.Compute == nil || *g.Compute.Architecture != "x64" || *g.Compute.Memory != 4 || *g.Compute.Status != csbmsg.ComputeActive ||
				*g.Storage.Size != 20 || *g.Storage.Status != csbmsg.StorageOnline || *g.Network.VLAN != "42" || *g.Network.Status != csbmsg.NetworkActive ||
				*g.NetworkInterface.IP != "10.1.0.5" || *g.NetworkInterface.MAC != "02:00:c0:a8:fe:04" || *g.StorageLink.DeviceID != "xvdb" || *g.StorageLink.Mountpoint != "/data" {
				b, _ := json.MarshalIndent(res.Granted, "", " ")
				t.Errorf("granted = %s", b)
			}

			// Every request went out in the configured rendering.
			for _, r := range srv.Requests() {
				if r.Method != http.MethodPost {
					continue
				}
				if !strings.HasPrefix(r.ContentType, rendering) {
					t.Errorf("%s %s sent as %q", r.Method, r.Path, r.ContentType)
				}
				if rendering == occi.MediaTextOCCI && r.Body != "" {
					t.Errorf("text/occi request with a body: %q", r.Body)
				}
			}

			// Status after a persist/reload.
			res = roundTrip(t, res)
			st, err := a.Status(ctx, res)
			if err != nil || st.State != contract.StateReady || *st.Granted.IaaS.Compute.Cores != 2 {
				t.Fatalf("status = %+v, %v", st, err)
			}

			// Update: resize compute and storage, change vlan, suspend the
			// machine, take the network down, snapshot the storage.
			want := fullIaaS()
			want.IaaS.Compute.Memory = p(uint64(8))
			want.IaaS.Compute.Action = p(csbmsg.ComputeSuspend)
			want.IaaS.Storage.Size = p(uint64(40))
			want.IaaS.Storage.Action = p(csbmsg.StorageActSnapshot)
			want.IaaS.Network.VLAN = p("43")
			want.IaaS.Network.Action = p(csbmsg.NetworkDown)
			up, err := a.Update(ctx, st, &contract.Request{JobID: "job-1", Want: want})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			g = up.Granted.IaaS
			if *g.Compute.Memory != 8 || *g.Compute.Status != csbmsg.ComputeSuspended || *g.Storage.Size != 40 || *g.Network.VLAN != "43" || *g.Network.Status != csbmsg.NetworkInactive {
				b, _ := json.MarshalIndent(up.Granted, "", " ")
				t.Errorf("after update: %s", b)
			}
			// The storage resize went through OCCI 1.1's resize action (the
			// server declares it), with its size attribute.
			var sawResize, sawSnapshot, sawDown bool
			for _, r := range srv.Requests() {
				switch r.Query {
				case "action=resize":
					sawResize = strings.Contains(r.Body+strings.Join(r.Header.Values("X-Occi-Attribute"), ","), "size=40")
				case "action=snapshot":
					sawSnapshot = true
				case "action=down":
					cat := r.Body + strings.Join(r.Header.Values("Category"), ",")
					sawDown = strings.Contains(cat, `scheme="http://schemas.ogf.org/occi/infrastructure/network/action#"`)
				}
			}
			if !sawResize || !sawSnapshot || !sawDown {
				t.Errorf("resize %v snapshot %v down %v", sawResize, sawSnapshot, sawDown)
			}

			// Status back to active through the status element alone.
			want = csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Status: p(csbmsg.ComputeActive)}, Network: &csbmsg.Network{Status: p(csbmsg.NetworkActive)}, Storage: &csbmsg.Storage{Status: p(csbmsg.StorageOffline)}}}
			up, err = a.Update(ctx, up, &contract.Request{Want: want})
			if err != nil {
				t.Fatalf("update status: %v", err)
			}
			if g = up.Granted.IaaS; *g.Compute.Status != csbmsg.ComputeActive || *g.Network.Status != csbmsg.NetworkActive || *g.Storage.Status != csbmsg.StorageOffline {
				b, _ := json.MarshalIndent(up.Granted, "", " ")
				t.Errorf("after status update: %s", b)
			}

			// Remove everything; a second Remove is not an error.
			if err := a.Remove(ctx, roundTrip(t, up)); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{occi.KindCompute, occi.KindStorage, occi.KindNetwork, occi.KindNetworkInterface, occi.KindStorageLink} {
				if n := srv.Count(k); n != 0 {
					t.Errorf("%d %s left", n, k)
				}
			}
			if err := a.Remove(ctx, up); err != nil {
				t.Errorf("second remove: %v", err)
			}
			gone, err := a.Status(ctx, up)
			if err != nil || gone.State != contract.StateGone {
				t.Errorf("status after remove = %+v, %v", gone, err)
			}
		})
	}
}

// A service discovered from a resource template is provisioned with the
// template mixin, and the attributes the template fixes are not sent (the
// recorded server declares them immutable, and the fixture refuses them).
func TestProvisionFromTemplate(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a := newAdapter(t, srv, func(c *occi.Config) {
		c.OSTemplate = "http://my.occi.service/occi/infrastructure/os_tpl#my_os"
	})
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var large csbmsg.Service
	for _, s := range svcs {
		if s.ID == "tpl-large" {
			large = s
		}
	}
	want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(2)), Memory: p(uint64(7)), Hostname: p("big")}}}
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "j", Want: want, Service: large})
	if err != nil {
		t.Fatal(err)
	}
	_, mixins, attrs, _ := srv.Entity(res.URI)
	if len(mixins) != 2 || attrs["occi.compute.memory"] != "7.5" || attrs["occi.compute.cores"] != "2" || attrs["occi.compute.hostname"] != "big" {
		t.Errorf("server holds mixins %v attrs %v", mixins, attrs)
	}
	if g := res.Granted.IaaS.Compute; *g.Memory != 8 { // 7.5 GiB rounds to 8
		t.Errorf("granted memory = %d", *g.Memory)
	}
	// Without the template, asking for memory beats the fixed value: the
	// fixture must refuse an immutable attribute; prove it does.
	_, err = a.Provision(context.Background(), &contract.Request{JobID: "j", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}, Service: csbmsg.Service{ID: "tpl-large", URI: "http://my.occi.service/occi/infrastructure/resource_tpl#nosuch"}})
	if err != nil {
		t.Errorf("unknown template in service URI should fall back to plain compute: %v", err)
	}
}

// Polling: after start the server shows the old state for two reads; the
// adapter reports pending until the compute reaches the state the action
// leads to.
func TestPendingUntilSettled(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci, PendingReads: 2})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}})
	if res.State != contract.StatePending {
		t.Fatalf("state right after provisioning = %s, want pending", res.State)
	}
	polls := 0
	for res.State == contract.StatePending {
		polls++
		if polls > 5 {
			t.Fatal("never settled")
		}
		var err error
		if res, err = a.Status(context.Background(), roundTrip(t, res)); err != nil {
			t.Fatal(err)
		}
	}
	if res.State != contract.StateReady || *res.Granted.IaaS.Compute.Status != csbmsg.ComputeActive || polls != 2 {
		t.Errorf("state %s after %d polls", res.State, polls)
	}
	// A machine that fails at the provider shows as failed.
	srv.SetAttribute(res.URI, "occi.compute.state", "error", true)
	if res, _ = a.Status(context.Background(), res); res.State != contract.StateFailed {
		t.Errorf("state = %s, want failed", res.State)
	}
}

func TestNoStartAndRequestedInactive(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a := newAdapter(t, srv, func(c *occi.Config) { c.NoStart = true })
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}})
	if *res.Granted.IaaS.Compute.Status != csbmsg.ComputeInactive {
		t.Errorf("no_start: status = %s", *res.Granted.IaaS.Compute.Status)
	}
	a = newAdapter(t, srv, nil)
	res = provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1)), Status: p(csbmsg.ComputeInactive)}}})
	if *res.Granted.IaaS.Compute.Status != csbmsg.ComputeInactive {
		t.Errorf("requested inactive: status = %s", *res.Granted.IaaS.Compute.Status)
	}
}
