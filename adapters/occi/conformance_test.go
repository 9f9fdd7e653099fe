package occi_test

import (
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// The conformance kit against the fixture that plays the recorded rOCCI
// server, in both renderings, with and without pending reads.
func TestConformance(t *testing.T) {
	for _, v := range []struct {
		name      string
		rendering string
		opts      occitest.Options
	}{
		{"text_plain", occi.MediaTextPlain, occitest.Options{Profile: occitest.Rocci}},
		{"text_occi", occi.MediaTextOCCI, occitest.Options{Profile: occitest.Rocci, PendingReads: 2}},
		{"opennebula", occi.MediaTextPlain, occitest.Options{Profile: occitest.OpenNebula, LocationInBodyOnly: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			srv := occitest.NewServer(t, v.opts)
			adaptertest.Run(t, adaptertest.Target{
				New: func(t *testing.T) contract.Adapter {
					return newAdapter(t, srv, func(c *occi.Config) { c.Rendering = v.rendering })
				},
				Cases: []adaptertest.Case{
					{Name: "compute+storage+network", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
						Compute: &csbmsg.Compute{Cores: p(uint64(1)), Memory: p(uint64(2))},
						Storage: &csbmsg.Storage{Size: p(uint64(10))},
						Network: &csbmsg.Network{Allocation: p(csbmsg.AllocationDynamic)},
					}}}, Updates: []adaptertest.Update{
						{Name: "resize", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
							Compute: &csbmsg.Compute{Cores: p(uint64(2)), Memory: p(uint64(4))},
							Storage: &csbmsg.Storage{Size: p(uint64(20))},
						}}}, Check: func(t testing.TB, res *contract.Resource) {
							g := res.Granted.IaaS
							if *g.Compute.Cores != 2 || *g.Compute.Memory != 4 || *g.Storage.Size != 20 {
								t.Errorf("granted after resize: cores %d memory %d size %d", *g.Compute.Cores, *g.Compute.Memory, *g.Storage.Size)
							}
						}},
						{Name: "stop", Req: computeAction(csbmsg.ComputeStop), Check: adaptertest.HasComputeStatus(csbmsg.ComputeInactive)},
						{Name: "start", Req: computeAction(csbmsg.ComputeStart), Check: adaptertest.HasComputeStatus(csbmsg.ComputeActive)},
						{Name: "suspend", Req: computeAction(csbmsg.ComputeSuspend), Check: adaptertest.HasComputeStatus(csbmsg.ComputeSuspended)},
						{Name: "restart", Req: computeAction(csbmsg.ComputeRestart), Check: adaptertest.HasComputeStatus(csbmsg.ComputeActive)},
						{Name: "network down", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Action: p(csbmsg.NetworkDown)}}}},
							Check: func(t testing.TB, res *contract.Resource) {
								if *res.Granted.IaaS.Network.Status != csbmsg.NetworkInactive {
									t.Errorf("network status %s", *res.Granted.IaaS.Network.Status)
								}
							}},
						{Name: "network up", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Action: p(csbmsg.NetworkUp)}}}}},
						{Name: "storage offline", Req: storageAction(csbmsg.StorageActOffline), Check: storageStatus(csbmsg.StorageOffline)},
						{Name: "storage online", Req: storageAction(csbmsg.StorageActOnline), Check: storageStatus(csbmsg.StorageOnline)},
						{Name: "storage backup", Req: storageAction(csbmsg.StorageActBackup), Check: storageStatus(csbmsg.StorageOnline)},
						{Name: "storage snapshot", Req: storageAction(csbmsg.StorageActSnapshot), Check: storageStatus(csbmsg.StorageOnline)},
						{Name: "storage resize", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(30)), Action: p(csbmsg.StorageActResize)}}}},
							Check: func(t testing.TB, res *contract.Resource) {
								if *res.Granted.IaaS.Storage.Size != 30 {
									t.Errorf("size %d", *res.Granted.IaaS.Storage.Size)
								}
							}},
					}},
					{Name: "compute only", Req: contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: p("x86"), Cores: p(uint64(1))}}}}},
					{Name: "full", Req: contract.Request{Want: fullIaaS()}},
				},
				Unsupported: []contract.Request{
					{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: p("arm64")}}}},
					{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{VLAN: p("blue")}}}},
					{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "https://crm.example"}}}},
					{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}}},
				},
				Fault: func(f adaptertest.Fault) {
					srv.Reset()
					switch f.Kind {
					case adaptertest.FaultClient:
						srv.FailNext("", "/", http.StatusBadRequest, 1<<30)
					case adaptertest.FaultServer:
						srv.FailNext("", "/", http.StatusInternalServerError, 1<<30)
					case adaptertest.FaultHang:
						srv.Hold("", "/")
					case adaptertest.FaultFailAfter:
						srv.FailAfter(f.After, http.StatusInternalServerError)
					}
				},
				Inventory: srv.Inventory,
			})
		})
	}
}

func computeAction(a csbmsg.ComputeAction) contract.Request {
	return contract.Request{Want: adaptertest.ComputeAction(a)}
}

func storageAction(a csbmsg.StorageAction) contract.Request {
	return contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: &a}}}}
}

func storageStatus(want csbmsg.StorageStatus) func(testing.TB, *contract.Resource) {
	return func(t testing.TB, res *contract.Resource) {
		if got := res.Granted.IaaS.Storage.Status; got == nil || *got != want {
			t.Errorf("storage status %v, want %s", got, want)
		}
	}
}
