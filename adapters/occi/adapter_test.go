package occi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/adapters/occi/occitest"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
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

func provision(t *testing.T, a *occi.Adapter, want csbmsg.ServiceRequest) *adapters.Resource {
	t.Helper()
	res, err := a.Provision(context.Background(), &adapters.Request{JobID: "job-1", Want: want, Service: csbmsg.Service{ID: "occi"}})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return res
}

// roundTrip persists and reloads a resource, as the broker does.
func roundTrip(t *testing.T, res *adapters.Resource) *adapters.Resource {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var out adapters.Resource
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

			if res.State != adapters.StateReady {
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
			if err != nil || st.State != adapters.StateReady || *st.Granted.IaaS.Compute.Cores != 2 {
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
			up, err := a.Update(ctx, st, &adapters.Request{JobID: "job-1", Want: want})
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
			up, err = a.Update(ctx, up, &adapters.Request{Want: want})
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
			if err != nil || gone.State != adapters.StateGone {
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
	res, err := a.Provision(context.Background(), &adapters.Request{JobID: "j", Want: want, Service: large})
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
	_, err = a.Provision(context.Background(), &adapters.Request{JobID: "j", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}, Service: csbmsg.Service{ID: "tpl-large", URI: "http://my.occi.service/occi/infrastructure/resource_tpl#nosuch"}})
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
	if res.State != adapters.StatePending {
		t.Fatalf("state right after provisioning = %s, want pending", res.State)
	}
	polls := 0
	for res.State == adapters.StatePending {
		polls++
		if polls > 5 {
			t.Fatal("never settled")
		}
		var err error
		if res, err = a.Status(context.Background(), roundTrip(t, res)); err != nil {
			t.Fatal(err)
		}
	}
	if res.State != adapters.StateReady || *res.Granted.IaaS.Compute.Status != csbmsg.ComputeActive || polls != 2 {
		t.Errorf("state %s after %d polls", res.State, polls)
	}
	// A machine that fails at the provider shows as failed.
	srv.SetAttribute(res.URI, "occi.compute.state", "error", true)
	if res, _ = a.Status(context.Background(), res); res.State != adapters.StateFailed {
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

// Creates answered with the location only in the body (no Location
// header), and servers that refuse partial updates (PUT instead).
func TestServerVariants(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci, LocationInBodyOnly: true, NoPartialUpdate: true})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1)), Hostname: p("h1")}}})
	if !strings.HasPrefix(res.URI, srv.URL+"/compute/") {
		t.Fatalf("URI = %q", res.URI)
	}
	up, err := a.Update(context.Background(), res, &adapters.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(4))}}}})
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
	res := &adapters.Resource{URI: srv.URL + "/compute/6c5f673c-e2e6-4fad-856c-d650587f0579", Native: map[string]string{
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
	if st.State != adapters.StateReady || *g.Compute.Cores != 1 || *g.Compute.Memory != 1 || *g.Compute.Architecture != "x86" || *g.Compute.Status != csbmsg.ComputeActive {
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

func TestErrors(t *testing.T) {
	ctx := context.Background()
	computeReq := func() csbmsg.ServiceRequest {
		return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}
	}
	compute := computeReq()

	t.Run("unsupported before anything is created", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		for name, want := range map[string]csbmsg.ServiceRequest{
			"arch":      {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: p("sparc")}, Storage: &csbmsg.Storage{Size: p(uint64(1))}}},
			"vlan":      {IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{VLAN: p("5000")}}},
			"paas":      {PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "x"}}},
			"lone link": {IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{}, StorageLink: &csbmsg.StorageLink{}}},
		} {
			res, err := a.Provision(ctx, &adapters.Request{Want: want})
			if adapters.KindOf(err) != adapters.KindUnsupported || res != nil {
				t.Errorf("%s: %v, %+v", name, err, res)
			}
		}
		if n := len(srv.Requests()); n > 2 {
			t.Errorf("%d requests for refused provisions", n)
		}
	})

	t.Run("provider 5xx and partial cleanup", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.FailNext(http.MethodPost, "/compute/", http.StatusInternalServerError, 1)
		want := computeReq()
		want.IaaS.Storage = &csbmsg.Storage{Size: p(uint64(1))}
		res, err := a.Provision(ctx, &adapters.Request{Want: want})
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindServer || ae.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		if res == nil || res.Native["storage"] == "" {
			t.Fatalf("partial resource = %+v", res)
		}
		if err := a.Remove(ctx, res); err != nil || srv.Count(occi.KindStorage) != 0 {
			t.Errorf("cleanup: %v, %d storages left", err, srv.Count(occi.KindStorage))
		}
	})

	t.Run("provider 4xx", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.FailNext(http.MethodPost, "/compute/", http.StatusForbidden, 1)
		_, err := a.Provision(ctx, &adapters.Request{Want: compute})
		if adapters.KindOf(err) != adapters.KindClient {
			t.Errorf("err = %v", err)
		}
		srv.FailNext(http.MethodPost, "/compute/", http.StatusInsufficientStorage, 1)
		_, err = a.Provision(ctx, &adapters.Request{Want: compute})
		if adapters.KindOf(err) != adapters.KindCapacity {
			t.Errorf("507: err = %v", err)
		}
	})

	t.Run("invalid transition is a conflict", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, func(c *occi.Config) { c.NoStart = true })
		res := provision(t, a, compute)
		_, err := a.Update(ctx, res, &adapters.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: p(csbmsg.ComputeSuspend)}}}})
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindClient || ae.Status != http.StatusConflict {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("idempotent reads are retried, creates are not", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		path := strings.TrimPrefix(res.URI, srv.URL)
		srv.FailNext(http.MethodGet, path, http.StatusServiceUnavailable, 2)
		if _, err := a.Status(ctx, res); err != nil {
			t.Errorf("status with two 503s: %v", err)
		}
		srv.FailNext(http.MethodGet, path, http.StatusServiceUnavailable, 3)
		if _, err := a.Status(ctx, res); adapters.KindOf(err) != adapters.KindServer {
			t.Errorf("status with three 503s: %v", err)
		}
		before := len(srv.Requests())
		srv.FailNext(http.MethodPost, "/compute/", http.StatusServiceUnavailable, 1)
		if _, err := a.Provision(ctx, &adapters.Request{Want: compute}); adapters.KindOf(err) != adapters.KindServer {
			t.Errorf("create with 503: %v", err)
		}
		posts := 0
		for _, r := range srv.Requests()[before:] {
			if r.Method == http.MethodPost {
				posts++
			}
		}
		if posts != 1 {
			for _, r := range srv.Requests()[before:] {
				t.Logf("%s %s?%s", r.Method, r.Path, r.Query)
			}
			t.Errorf("create sent %d times", posts)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		release := srv.Hold(http.MethodGet, "/compute/")
		defer release()
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := a.Status(dctx, res)
		if adapters.KindOf(err) != adapters.KindTimeout {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.Close()
		_, err := a.Provision(ctx, &adapters.Request{Want: compute})
		if adapters.KindOf(err) != adapters.KindTransport {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("gone at the provider", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		srv.Delete(res.URI)
		st, err := a.Status(ctx, res)
		if err != nil || st.State != adapters.StateGone {
			t.Errorf("status = %+v, %v", st, err)
		}
		if _, err := a.Update(ctx, res, &adapters.Request{Want: compute}); adapters.KindOf(err) != adapters.KindNotFound {
			t.Errorf("update of a gone resource: %v", err)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Errorf("remove of a gone resource: %v", err)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []occi.Config{
		{},
		{Endpoint: "ftp://x/"},
		{Endpoint: "http://x/", Rendering: "application/json"},
		{Endpoint: "http://x/", OSTemplate: "no-hash"},
	} {
		if _, err := occi.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

// An OCCI 1.2 server has no storage resize action: the size is changed by
// a partial update of occi.storage.size, and backup is refused before any
// request since the server does not declare it for storage.
func TestResizeWithoutResizeAction(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci, WithoutStorageActions: true})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(10))}}})
	up, err := a.Update(context.Background(), res, &adapters.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(20)), Action: p(csbmsg.StorageActResize)}}}})
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
	_, err = a.Update(context.Background(), up, &adapters.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: p(csbmsg.StorageActBackup)}}}})
	if adapters.KindOf(err) != adapters.KindUnsupported {
		t.Errorf("backup on a server without it: %v", err)
	}
}
