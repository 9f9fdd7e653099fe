package openstack

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestConformanceSwift runs the adapter conformance kit against the real
// Swift (TempAuth, second account), with faults injected by a loopback
// proxy in front of it.
func TestConformanceSwift(t *testing.T) {
	sw := swiftpeer.Shared(t)
	fp := swiftpeer.NewFaultProxy(t, sw.ProxyURL)
	api := func(t testing.TB) (string, string) {
		tok, storage, err := sw.Auth(context.Background(), swiftpeer.User2, swiftpeer.Key2)
		if err != nil {
			t.Fatal(err)
		}
		return tok, storage
	}
	objectBody := func(t testing.TB, res *contract.Resource) string {
		t.Helper()
		tok, _ := api(t)
		return httpGet(t, res.URI, tok)
	}
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter {
			return mustNew(t, Config{TempAuthURL: fp.URL + "/auth/v1.0", TempAuthUser: swiftpeer.User2, TempAuthKey: swiftpeer.Key2})
		},
		Cases: []adaptertest.Case{
			{
				Name: "container-and-object",
				Req: contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
					ContainerObject: &csbmsg.ContainerObject{Metadata: s("tier=gold")},
					DataObject:      &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("doc.txt")}, Value: s("v1"), Metadata: s("rev=1")},
				}}},
				Check: func(t testing.TB, res *contract.Resource) {
					if got := objectBody(t, res); got != "v1" {
						t.Errorf("object holds %q", got)
					}
					if *res.Granted.DSaaS.ContainerObject.Metadata != `{"tier":"gold"}` {
						t.Errorf("container grant %+v", res.Granted.DSaaS.ContainerObject)
					}
				},
				Updates: []adaptertest.Update{
					{
						Name: "new value",
						Req:  contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: s("v2")}}}},
						Check: func(t testing.TB, res *contract.Resource) {
							if got := objectBody(t, res); got != "v2" {
								t.Errorf("object holds %q", got)
							}
							if *res.Granted.DSaaS.DataObject.Metadata != `{"rev":"1"}` {
								t.Errorf("metadata lost: %s", *res.Granted.DSaaS.DataObject.Metadata)
							}
						},
					},
					{
						Name: "new metadata",
						Req:  contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Metadata: s("rev=2")}}}},
						Check: func(t testing.TB, res *contract.Resource) {
							if *res.Granted.DSaaS.DataObject.Metadata != `{"rev":"2"}` {
								t.Errorf("metadata %s", *res.Granted.DSaaS.DataObject.Metadata)
							}
						},
					},
				},
			},
			{
				Name: "account-info",
				Req: contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
					ContainerObject:  &csbmsg.ContainerObject{},
					DomainObject:     &csbmsg.DomainObject{},
					CapabilityObject: &csbmsg.CapabilityObject{},
				}}},
				Check: func(t testing.TB, res *contract.Resource) {
					g := res.Granted.DSaaS
					if g.DomainObject == nil || *g.DomainObject.ObjectID != swiftpeer.Account2 || g.CapabilityObject == nil ||
						!strings.HasSuffix(*g.CapabilityObject.ObjectURI, "/info") {
						t.Errorf("grant %+v", g)
					}
				},
			},
		},
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}}}},
			{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DomainObject: &csbmsg.DomainObject{Metadata: s("a=b")}}}},
			{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{}}},
		},
		Fault: fp.Apply,
		Inventory: func() int {
			c, o, err := sw.Count(context.Background(), swiftpeer.User2, swiftpeer.Key2)
			if err != nil {
				// Called from the kit's subtests: no FailNow on this
				// test; -1 fails the subtest's comparison.
				t.Errorf("inventory of the Swift: %v", err)
				return -1
			}
			return c + o
		},
	})
}

// TestConformanceNova runs the conformance kit against the Keystone and
// Nova double.
func TestConformanceNova(t *testing.T) {
	d := newDouble(t)
	up := csbmsg.NetworkUp
	backup := csbmsg.StorageActBackup
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter { return novaAdapter(t, d) },
		Cases: []adaptertest.Case{{
			Name: "server",
			Req:  contract.Request{Want: adaptertest.IaaS(1, 1, 10)},
			Check: func(t testing.TB, res *contract.Resource) {
				if c := res.Granted.IaaS.Compute; *c.Cores != 1 || *c.Memory != 2 {
					t.Errorf("grant %+v (want m1.small)", c)
				}
			},
			Updates: []adaptertest.Update{
				adaptertest.ActionUpdate(csbmsg.ComputeStop, csbmsg.ComputeInactive),
				adaptertest.ActionUpdate(csbmsg.ComputeStart, csbmsg.ComputeActive),
				adaptertest.ActionUpdate(csbmsg.ComputeSuspend, csbmsg.ComputeSuspended),
				adaptertest.ActionUpdate(csbmsg.ComputeRestart, csbmsg.ComputeActive),
				{
					Name: "resize",
					Req:  contract.Request{Want: adaptertest.IaaS(4, 8, 0)},
					Check: func(t testing.TB, res *contract.Resource) {
						if c := res.Granted.IaaS.Compute; *c.Cores != 4 || *c.Memory != 8 {
							t.Errorf("grant after resize %+v", c)
						}
					},
				},
			},
		}},
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Action: &up}}}},
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: &backup}}}},
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Href: "https://example.com/vm.ovf"}}}},
		},
		Fault:     d.applyFault,
		Inventory: d.inventory,
	})
}
