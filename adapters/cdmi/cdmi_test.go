package cdmi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

func ptr[T any](v T) *T { return &v }

func dsReq(mut func(*csbmsg.DSaaS)) contract.Request {
	d := &csbmsg.DSaaS{}
	mut(d)
	return contract.Request{Want: csbmsg.ServiceRequest{DSaaS: d}}
}

func all(value string) contract.Request {
	return dsReq(func(d *csbmsg.DSaaS) {
		d.ContainerObject = &csbmsg.ContainerObject{Metadata: ptr(`{"team":"blue"}`)}
		d.DataObject = &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("hello.txt")}, Mimetype: ptr("text/plain"), Metadata: ptr("greeting"), Value: ptr(value)}
		d.QueueObject = &csbmsg.QueueObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("jobs")}}
		d.DomainObject = &csbmsg.DomainObject{Enabled: ptr(true)}
		d.CapabilityObject = &csbmsg.CapabilityObject{Type: ptr(csbmsg.CapContainer)}
	})
}

func cases() []adaptertest.Case {
	return []adaptertest.Case{
		{
			Name: "all_objects",
			Req:  all("hello"),
			Check: func(t testing.TB, r *contract.Resource) {
				g := r.Granted.DSaaS
				if g == nil || g.DataObject == nil || g.ContainerObject == nil || g.QueueObject == nil || g.DomainObject == nil || g.CapabilityObject == nil {
					t.Fatalf("granted %+v lacks an object", g)
				}
				if *g.DataObject.Value != "hello" || *g.DataObject.Mimetype != "text/plain" || *g.DataObject.Metadata != "greeting" {
					t.Errorf("data object %+v", g.DataObject)
				}
				if *g.ContainerObject.Metadata != `{"team":"blue"}` || !strings.Contains(*g.ContainerObject.Children, "hello.txt") {
					t.Errorf("container %+v", g.ContainerObject)
				}
				if g.DomainObject.Enabled == nil || !*g.DomainObject.Enabled {
					t.Errorf("domain %+v", g.DomainObject)
				}
				if !strings.Contains(*g.CapabilityObject.Status, "cdmi_create_dataobject") {
					t.Errorf("capability %+v", g.CapabilityObject)
				}
				if g.DataObject.ObjectID == nil || len(*g.DataObject.ObjectID) != 48 {
					t.Errorf("objectID %v", g.DataObject.ObjectID)
				}
			},
			Updates: []adaptertest.Update{{
				Name: "new_value",
				Req: dsReq(func(d *csbmsg.DSaaS) {
					d.DataObject = &csbmsg.DataObject{Value: ptr("bonjour"), Mimetype: ptr("text/x-greeting")}
					d.DomainObject = &csbmsg.DomainObject{Enabled: ptr(false)}
				}),
				Check: func(t testing.TB, r *contract.Resource) {
					g := r.Granted.DSaaS
					if *g.DataObject.Value != "bonjour" || *g.DataObject.Mimetype != "text/x-greeting" || *g.DataObject.Metadata != "greeting" {
						t.Errorf("data object %+v", g.DataObject)
					}
					if *g.DomainObject.Enabled {
						t.Errorf("domain still enabled")
					}
				},
			}},
		},
		{Name: "container_only", Req: dsReq(func(d *csbmsg.DSaaS) { d.ContainerObject = &csbmsg.ContainerObject{} })},
		{Name: "data_object", Req: dsReq(func(d *csbmsg.DSaaS) { d.DataObject = &csbmsg.DataObject{Value: ptr("x")} })},
		{Name: "domain_only", Req: dsReq(func(d *csbmsg.DSaaS) { d.DomainObject = &csbmsg.DomainObject{} })},
	}
}

func newSandbox(t *testing.T, cfg sandbox.Config) (*sandbox.Cloud, string) {
	t.Helper()
	cloud := sandbox.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/cdmi/", cloud.CDMI("/cdmi"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return cloud, srv.URL + "/cdmi/"
}

func TestConformanceSandbox(t *testing.T) {
	cloud, ep := newSandbox(t, sandbox.Config{})
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter {
			a, err := cdmi.New(cdmi.Config{Endpoint: ep})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Cases: cases(),
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{}}}},
			dsReq(func(d *csbmsg.DSaaS) { d.Link = &csbmsg.Link{Href: "http://x"} }),
			dsReq(func(d *csbmsg.DSaaS) {
				d.DataObject = &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("../../etc")}}
			}),
		},
		Fault: func(f adaptertest.Fault) {
			switch f.Kind {
			case adaptertest.FaultNone:
				cloud.SetFaults(sandbox.Faults{})
			case adaptertest.FaultClient:
				cloud.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorRateStatus: 403})
			case adaptertest.FaultServer:
				cloud.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorRateStatus: 500})
			case adaptertest.FaultHang:
				cloud.SetFaults(sandbox.Faults{Hang: true})
			case adaptertest.FaultFailAfter:
				cloud.SetFaults(sandbox.Faults{FailAfter: f.After})
			}
		},
		Inventory: func() int { return cloud.Inventory().Total() },
	})
	if u := cloud.Usage(); u.StorageGB != 0 {
		t.Errorf("storage in use after the suite: %+v", u)
	}
}

func TestDiscover(t *testing.T) {
	_, ep := newSandbox(t, sandbox.Config{})
	a, _ := cdmi.New(cdmi.Config{Endpoint: ep})
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || svcs[0].DSaaS == nil || svcs[0].DSaaS.QueueObject == nil || svcs[0].DSaaS.DomainObject == nil || svcs[0].DSaaS.DataObject == nil {
		t.Fatalf("services %+v", svcs)
	}
}

func TestREADMEListsMapping(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, o := range cdmi.Objects {
		if !strings.Contains(doc, "`"+o.CSB+"`") || !strings.Contains(doc, o.ContentType) {
			t.Errorf("README.md lacks the object row %s", o.CSB)
		}
	}
	for _, f := range cdmi.Fields {
		if !strings.Contains(doc, "`"+f.CSB+"`") {
			t.Errorf("README.md lacks the field row %s", f.CSB)
		}
	}
	for typ, p := range cdmi.CapabilityPaths {
		if !strings.Contains(doc, string(typ)) || !strings.Contains(doc, p) {
			t.Errorf("README.md lacks capability %s", typ)
		}
	}
}
