package cdmi_test

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

// TestADomainUpdateKeepsWhatItDoesNotChange: a domain's enabled flag is
// its metadata item cdmi_domain_enabled, and a CDMI PUT of metadata
// replaces the object's metadata: an update that only disabled the
// domain wiped its user metadata, and one that only changed its
// metadata dropped its enabled flag (the grant then had none). The
// update now writes, of the two, the one it does not change as it was.
func TestADomainUpdateKeepsWhatItDoesNotChange(t *testing.T) {
	_, ep := newSandbox(t, sandbox.Config{})
	a, err := cdmi.New(cdmi.Config{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DomainObject: &csbmsg.DomainObject{Metadata: ptr("finance"), Enabled: ptr(true)}}}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := a.Update(ctx, res, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DomainObject: &csbmsg.DomainObject{Enabled: ptr(false)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := up.Granted.DSaaS.DomainObject; d.Enabled == nil || *d.Enabled || d.Metadata == nil || *d.Metadata != "finance" {
		t.Errorf("after disabling: enabled %v, metadata %q", d.Enabled, deref(d.Metadata))
	}
	up, err = a.Update(ctx, up, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DomainObject: &csbmsg.DomainObject{Metadata: ptr("sales")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := up.Granted.DSaaS.DomainObject; d.Enabled == nil || *d.Enabled || d.Metadata == nil || *d.Metadata != "sales" {
		t.Errorf("after the new metadata: enabled %v, metadata %q", d.Enabled, deref(d.Metadata))
	}
}
