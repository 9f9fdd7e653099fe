package openstack

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestSwiftPlainMetadata: a <metadata> that is plain text (the schema's
// xsd:string) is stored on the real Swift under the one item
// csb-metadata, and the grant gives the text back; text a header cannot
// carry is refused before Swift is called, as unsupported.
func TestSwiftPlainMetadata(t *testing.T) {
	sw := swiftpeer.Shared(t)
	api := newSwiftAPI(t, sw)
	a := tempAuthAdapter(t, sw)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "plainmeta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: s("nightly build")},
		DataObject:      &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("o.txt")}, Value: s("x"), Metadata: s("acceptance")},
	}}})
	if err != nil {
		t.Fatalf("provision with plain metadata: %v", err)
	}
	t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	c := res.Native[nativeContainer]
	if resp, _ := api.do("HEAD", "/"+c+"/o.txt", "", nil); resp.Header.Get("X-Object-Meta-Csb-Metadata") != "acceptance" {
		t.Fatalf("object headers: %v", resp.Header)
	}
	if resp, _ := api.do("HEAD", "/"+c, "", nil); resp.Header.Get("X-Container-Meta-Csb-Metadata") != "nightly build" {
		t.Fatalf("container headers: %v", resp.Header)
	}
	g := res.Granted.DSaaS
	if *g.DataObject.Metadata != "acceptance" || *g.ContainerObject.Metadata != "nightly build" {
		t.Fatalf("grant: %q %q", *g.DataObject.Metadata, *g.ContainerObject.Metadata)
	}
	_, err = a.Provision(ctx, &contract.Request{JobID: "plainmeta2", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x"), Metadata: s("two\nlines")},
	}}})
	if contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("metadata a header cannot carry: %v, want unsupported", err)
	}
	if resp, _ := api.do("HEAD", "/"+a.cfg.NamePrefix+"plainmeta2", "", nil); resp.StatusCode != 404 {
		t.Fatalf("the refused job's container exists: %s", resp.Status)
	}
}
