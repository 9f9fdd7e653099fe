package link_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/link"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

var crm = csbmsg.Service{ID: "crm", Status: csbmsg.ServiceActive, SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "https://crm.example.org/tenant/"}}}

var paas = csbmsg.Service{ID: "apps", Status: csbmsg.ServiceActive, URI: "https://paas.example.org/api/", PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "app-engine"}}}

func saasReq(rel string) contract.Request {
	return contract.Request{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: rel}}}, Service: crm}
}

func TestProvisionReturnsTheServiceURI(t *testing.T) {
	var a link.Adapter
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "CRM"}}}, Service: crm})
	if err != nil {
		t.Fatal(err)
	}
	if res.URI != "https://crm.example.org/tenant/" || res.Endpoint != res.URI || res.State != contract.StateReady {
		t.Errorf("resource = %+v", res)
	}
	if g := res.Granted.SaaS; g == nil || g.Link.Href != res.URI || g.Link.Rel != "CRM" {
		t.Errorf("granted = %+v", res.Granted)
	}
	// PaaS without a Link href: the Cloud-Service-URI.
	res, err = a.Provision(ctx, &contract.Request{Want: csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "app-engine"}}}, Service: paas})
	if err != nil || res.URI != "https://paas.example.org/api/" || res.Granted.PaaS.Link.Rel != "app-engine" {
		t.Errorf("paas: %+v %v", res, err)
	}
	if a.Live() != 2 {
		t.Errorf("live = %d", a.Live())
	}
}

func TestBookkeeping(t *testing.T) {
	var a link.Adapter
	ctx := context.Background()
	res, _ := a.Provision(ctx, &contract.Request{Want: saasReq("crm").Want, Service: crm})
	st, err := a.Status(ctx, res)
	if err != nil || st.State != contract.StateReady || st.URI != res.URI {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// Update: same rel renews, another rel the service does not offer is
	// refused, the href cannot change.
	if _, err := a.Update(ctx, res, &contract.Request{Want: saasReq("crm").Want, Service: crm}); err != nil {
		t.Errorf("update same rel: %v", err)
	}
	if _, err := a.Update(ctx, res, &contract.Request{Want: saasReq("erp").Want, Service: crm}); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("update other rel: %v", err)
	}
	moved := contract.Request{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "https://evil.example/"}}}, Service: crm}
	if _, err := a.Update(ctx, res, &moved); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("update href: %v", err)
	}
	if err := a.Remove(ctx, res); err != nil || a.Live() != 0 {
		t.Fatalf("remove: %v (live %d)", err, a.Live())
	}
	if st, _ := a.Status(ctx, res); st.State != contract.StateGone {
		t.Errorf("status after remove = %s", st.State)
	}
	if _, err := a.Update(ctx, res, &contract.Request{Want: saasReq("crm").Want, Service: crm}); contract.KindOf(err) != contract.KindNotFound {
		t.Errorf("update after remove: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Provision(cctx, &contract.Request{Want: saasReq("crm").Want, Service: crm}); contract.KindOf(err) != contract.KindTimeout {
		t.Errorf("cancelled provision: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	var a link.Adapter
	for name, req := range map[string]contract.Request{
		"iaas":         {Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}, Service: crm},
		"dsaas":        {Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}, Service: crm},
		"empty":        {Service: crm},
		"rel mismatch": {Want: saasReq("erp").Want, Service: crm},
		"no uri":       {Want: saasReq("x").Want, Service: csbmsg.Service{ID: "s", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "x"}}}},
		"relative":     {Want: saasReq("x").Want, Service: csbmsg.Service{ID: "s", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "x", Href: "/crm"}}}},
		"scheme":       {Want: saasReq("x").Want, Service: csbmsg.Service{ID: "s", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "x", Href: "javascript:alert(1)"}}}},
		"file":         {Want: saasReq("x").Want, Service: csbmsg.Service{ID: "s", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "x", Href: "file:///etc/passwd"}}}},
	} {
		res, err := a.Provision(context.Background(), &req)
		if contract.KindOf(err) != contract.KindUnsupported || res != nil {
			t.Errorf("%s: %v %+v", name, err, res)
		}
	}
}

// The conformance kit, where it applies: there is no native API, so the
// provider fault and timeout cases (which need a peer to fail) do not; the
// "peer" is the adapter's own ledger of live grants.
func TestConformance(t *testing.T) {
	a := &link.Adapter{}
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter {
			for _, na := range []string{"errors/provider_4xx", "errors/provider_5xx", "errors/timeout"} {
				if strings.HasSuffix(t.Name(), na) {
					t.Skip("no native API: nothing at the provider can fail or hang")
				}
			}
			return a
		},
		Cases: []adaptertest.Case{
			{Name: "saas", Req: saasReq("crm"), Updates: []adaptertest.Update{{Name: "renew", Req: saasReq("crm")}}},
			{Name: "paas", Req: contract.Request{Want: csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "app-engine"}}}, Service: paas}},
		},
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{}}}, Service: crm},
			saasReq("erp"),
		},
		Fault:     func(adaptertest.Fault) {},
		Inventory: a.Live,
	})
}
