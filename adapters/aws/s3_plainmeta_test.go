package aws

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestS3PlainMetadata: a plain-text <metadata> (the schema's xsd:string)
// goes to the real Swift's S3 API as x-amz-meta-csb-metadata, which Swift
// keeps as X-Object-Meta-Csb-Metadata, and the grant gives the text back.
func TestS3PlainMetadata(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := s3Adapter(t, sw.ProxyURL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "s3-plainmeta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("o.txt")}, Value: s("x"), Metadata: s("acceptance")},
	}}})
	if err != nil {
		t.Fatalf("provision with plain metadata: %v", err)
	}
	t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	resp, _ := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+res.Native[nativeBucket]+"/o.txt")
	if resp.StatusCode != 200 || resp.Header.Get("X-Object-Meta-Csb-Metadata") != "acceptance" {
		t.Fatalf("through Swift: %s %v", resp.Status, resp.Header)
	}
	if got := *res.Granted.DSaaS.DataObject.Metadata; got != "acceptance" {
		t.Fatalf("grant: %q", got)
	}
}
