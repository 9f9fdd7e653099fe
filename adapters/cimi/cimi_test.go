package cimi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

func ptr[T any](v T) *T { return &v }

func iaasReq(mut func(*csbmsg.IaaS)) contract.Request {
	i := &csbmsg.IaaS{}
	mut(i)
	return contract.Request{Owner: "alice", Want: csbmsg.ServiceRequest{IaaS: i}}
}

func full(cores, mem, size uint64, mut func(*csbmsg.IaaS)) contract.Request {
	return iaasReq(func(i *csbmsg.IaaS) {
		i.Compute = &csbmsg.Compute{Cores: ptr(cores), Memory: ptr(mem), Architecture: ptr("x86_64")}
		i.Storage = &csbmsg.Storage{Size: ptr(size)}
		i.Network = &csbmsg.Network{VLANLabel: ptr("net1"), VLAN: ptr("42")}
		i.NetworkInterface = &csbmsg.NetworkInterface{}
		i.StorageLink = &csbmsg.StorageLink{Mountpoint: ptr("/data")}
		if mut != nil {
			mut(i)
		}
	})
}

func granted(cores, mem, size uint64) func(testing.TB, *contract.Resource) {
	return func(t testing.TB, res *contract.Resource) {
		t.Helper()
		g := res.Granted.IaaS
		if g == nil || g.Compute == nil || g.Storage == nil {
			t.Fatalf("granted %+v lacks compute or storage", g)
		}
		if *g.Compute.Cores != cores || *g.Compute.Memory != mem || *g.Storage.Size != size {
			t.Errorf("granted cores %d memory %d size %d, want %d %d %d", *g.Compute.Cores, *g.Compute.Memory, *g.Storage.Size, cores, mem, size)
		}
		if g.StorageLink == nil || *g.StorageLink.Mountpoint != "/data" {
			t.Errorf("granted storagelink %+v, want mountpoint /data", g.StorageLink)
		}
		if g.Network == nil || *g.Network.VLANLabel != "net1" || g.NetworkInterface == nil {
			t.Errorf("granted network %+v / interface %+v", g.Network, g.NetworkInterface)
		}
	}
}

func networkStatus(want csbmsg.NetworkStatus) func(testing.TB, *contract.Resource) {
	return func(t testing.TB, res *contract.Resource) {
		t.Helper()
		n := res.Granted.IaaS.Network
		if n == nil || n.Status == nil || *n.Status != want {
			t.Errorf("network status = %+v, want %s", n, want)
		}
	}
}

// cases are the lifecycle cases for any CIMI peer.
func cases() []adaptertest.Case {
	act := func(a csbmsg.ComputeAction) contract.Request {
		return full(2, 2, 4, func(i *csbmsg.IaaS) { i.Compute.Action = &a })
	}
	net := func(a csbmsg.NetworkAction) contract.Request {
		return full(2, 2, 4, func(i *csbmsg.IaaS) { i.Network.Action = &a })
	}
	return []adaptertest.Case{
		{
			Name: "machine_volume_network",
			Req:  full(1, 1, 2, nil),
			Check: func(t testing.TB, r *contract.Resource) {
				granted(1, 1, 2)(t, r)
				adaptertest.HasComputeStatus(csbmsg.ComputeActive)(t, r)
			},
			Updates: []adaptertest.Update{
				{Name: "resize", Req: full(2, 2, 4, nil), Check: granted(2, 2, 4)},
				{Name: "stop", Req: act(csbmsg.ComputeStop), Check: adaptertest.HasComputeStatus(csbmsg.ComputeInactive)},
				{Name: "start", Req: act(csbmsg.ComputeStart), Check: adaptertest.HasComputeStatus(csbmsg.ComputeActive)},
				{Name: "restart", Req: act(csbmsg.ComputeRestart), Check: adaptertest.HasComputeStatus(csbmsg.ComputeActive)},
				{Name: "suspend", Req: act(csbmsg.ComputeSuspend), Check: adaptertest.HasComputeStatus(csbmsg.ComputeSuspended)},
				{Name: "resume", Req: act(csbmsg.ComputeStart), Check: adaptertest.HasComputeStatus(csbmsg.ComputeActive)},
				{Name: "network_down", Req: net(csbmsg.NetworkDown), Check: networkStatus(csbmsg.NetworkInactive)},
				{Name: "network_up", Req: net(csbmsg.NetworkUp), Check: networkStatus(csbmsg.NetworkActive)},
			},
		},
		{
			Name: "machine_only",
			Req: iaasReq(func(i *csbmsg.IaaS) {
				i.Compute = &csbmsg.Compute{Cores: ptr(uint64(1)), Memory: ptr(uint64(1)), Hostname: ptr("web1")}
			}),
			Check: func(t testing.TB, r *contract.Resource) {
				if h := r.Granted.IaaS.Compute.Hostname; h == nil || *h != "web1" {
					t.Errorf("hostname %v, want web1", h)
				}
			},
		},
		{
			Name: "volume_only",
			Req:  iaasReq(func(i *csbmsg.IaaS) { i.Storage = &csbmsg.Storage{Size: ptr(uint64(3))} }),
			Updates: []adaptertest.Update{{
				Name: "resize",
				Req: iaasReq(func(i *csbmsg.IaaS) {
					i.Storage = &csbmsg.Storage{Size: ptr(uint64(5)), Action: ptr(csbmsg.StorageActResize)}
				}),
				Check: func(t testing.TB, r *contract.Resource) {
					if s := r.Granted.IaaS.Storage; s == nil || *s.Size != 5 || *s.Status != csbmsg.StorageOnline {
						t.Errorf("storage %+v, want 5 GB online", s)
					}
				},
			}},
		},
		{
			Name: "network_only",
			Req:  iaasReq(func(i *csbmsg.IaaS) { i.Network = &csbmsg.Network{VLANLabel: ptr("backend")} }),
		},
	}
}

func unsupportedReqs() []contract.Request {
	return []contract.Request{
		{Want: csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "x"}}}},
		{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}}},
		iaasReq(func(i *csbmsg.IaaS) { i.Link = &csbmsg.Link{Href: "http://example.com/x.ovf"} }),
		iaasReq(func(i *csbmsg.IaaS) { i.Compute = &csbmsg.Compute{Cores: ptr(uint64(1))} }),
	}
}

func sandboxFault(c *sandbox.Cloud) func(adaptertest.Fault) {
	return func(f adaptertest.Fault) {
		switch f.Kind {
		case adaptertest.FaultNone:
			c.SetFaults(sandbox.Faults{})
		case adaptertest.FaultClient:
			c.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorRateStatus: http.StatusBadRequest})
		case adaptertest.FaultServer:
			c.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorRateStatus: http.StatusInternalServerError})
		case adaptertest.FaultHang:
			c.SetFaults(sandbox.Faults{Hang: true})
		case adaptertest.FaultFailAfter:
			c.SetFaults(sandbox.Faults{FailAfter: f.After})
		}
	}
}

func newSandbox(t *testing.T, cfg sandbox.Config) (*sandbox.Cloud, string) {
	t.Helper()
	cloud := sandbox.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/cimi/", cloud.CIMI("/cimi"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return cloud, srv.URL + "/cimi/"
}

func TestConformanceSandbox(t *testing.T) {
	cloud, ep := newSandbox(t, sandbox.Config{Capacity: sandbox.Capacity{Cores: 64, MemoryGB: 64, StorageGB: 200}})
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter {
			a, err := cimi.New(cimi.Config{Endpoint: ep})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Cases:       cases(),
		Unsupported: unsupportedReqs(),
		Fault:       sandboxFault(cloud),
		Inventory:   func() int { return cloud.Inventory().Total() },
	})
	if u := cloud.Usage(); u != (sandbox.Capacity{}) {
		t.Errorf("capacity still in use after the suite: %+v", u)
	}
}

func TestCapacityExhausted(t *testing.T) {
	cloud, ep := newSandbox(t, sandbox.Config{Capacity: sandbox.Capacity{Cores: 2, MemoryGB: 4, StorageGB: 10}})
	a, _ := cimi.New(cimi.Config{Endpoint: ep})
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "big", Want: full(2, 4, 5, nil).Want})
	if err != nil {
		t.Fatal(err)
	}
	// No cores left: the machine create fails with a capacity error after
	// the volume and network were made; they come back for cleanup.
	res2, err := a.Provision(ctx, &contract.Request{JobID: "more", Want: full(1, 1, 1, nil).Want})
	if k := contract.KindOf(err); k != contract.KindCapacity {
		t.Fatalf("kind %q (%v), want capacity", k, err)
	}
	if res2 == nil || res2.Native["volume"] == "" {
		t.Fatalf("partial resource %+v should hold the volume", res2)
	}
	if err := a.Remove(ctx, res2); err != nil {
		t.Fatal(err)
	}
	// Resizing beyond the capacity is refused and changes nothing.
	_, err = a.Update(ctx, res, &contract.Request{Want: full(3, 4, 5, nil).Want})
	if k := contract.KindOf(err); k != contract.KindCapacity {
		t.Fatalf("resize: kind %q (%v), want capacity", k, err)
	}
	if u := cloud.Usage(); u.Cores != 2 || u.MemoryGB != 4 {
		t.Errorf("usage %+v after a refused resize", u)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatal(err)
	}
	if inv := cloud.Inventory(); inv.Total() != 0 {
		t.Errorf("inventory %+v", inv)
	}
}

func TestUnsupportedUpdates(t *testing.T) {
	_, ep := newSandbox(t, sandbox.Config{})
	a, _ := cimi.New(cimi.Config{Endpoint: ep})
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "u1", Want: full(1, 1, 1, nil).Want})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Remove(ctx, res)
	for _, act := range []csbmsg.StorageAction{csbmsg.StorageActSnapshot, csbmsg.StorageActBackup, csbmsg.StorageActOnline, csbmsg.StorageActOffline} {
		_, err := a.Update(ctx, res, &contract.Request{Want: full(1, 1, 1, func(i *csbmsg.IaaS) { i.Storage.Action = &act }).Want})
		if k := contract.KindOf(err); k != contract.KindUnsupported {
			t.Errorf("storage %s: kind %q, want unsupported", act, k)
		}
	}
	// start on a started machine: the provider offers no such operation.
	_, err = a.Update(ctx, res, &contract.Request{Want: full(1, 1, 1, func(i *csbmsg.IaaS) { i.Compute.Action = ptr(csbmsg.ComputeStart) }).Want})
	if k := contract.KindOf(err); k != contract.KindClient {
		t.Errorf("start while started: kind %q (%v), want provider_4xx", k, err)
	}
}

func TestDiscoverSandbox(t *testing.T) {
	_, ep := newSandbox(t, sandbox.Config{Architecture: "aarch64"})
	a, _ := cimi.New(cimi.Config{Endpoint: ep})
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 3 {
		t.Fatalf("%d services, want one per machine configuration (3)", len(svcs))
	}
	s := svcs[1]
	if s.ID != "cimi-medium" || *s.IaaS.Compute.Cores != 2 || *s.IaaS.Compute.Memory != 4 || *s.IaaS.Compute.Architecture != "aarch64" {
		t.Errorf("medium: %+v %+v", s, s.IaaS.Compute)
	}
	if *s.IaaS.Storage.Size != 100 || s.IaaS.Network == nil || *s.IaaS.Network.VLANLabel != "public" {
		t.Errorf("medium storage %+v network %+v", s.IaaS.Storage, s.IaaS.Network)
	}
	if !strings.HasSuffix(s.URI, "/machineConfigs/medium") {
		t.Errorf("URI %q", s.URI)
	}
}

// TestREADMEListsMapping keeps README.md in step with mapping.go.
func TestREADMEListsMapping(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, f := range cimi.ComputeFields {
		if !strings.Contains(doc, "`"+f.CSB+"`") || !strings.Contains(doc, f.CIMI) {
			t.Errorf("README.md lacks the row %s -> %s", f.CSB, f.CIMI)
		}
	}
	for st := range cimi.MachineStates {
		if !strings.Contains(doc, st) {
			t.Errorf("README.md lacks machine state %s", st)
		}
	}
}
