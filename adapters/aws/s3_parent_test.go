package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestS3ObjectInAnotherBucketRefused: a DataObject whose parentURI names
// another bucket than the job's was written into the job's bucket and
// answered as done: an update naming bucket "beta" for the job of bucket
// "alpha", or a create naming ContainerObject "alpha" and a parentURI
// in "beta". It is refused before S3 is called.
func TestS3ObjectInAnotherBucketRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("S3 called: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	a, err := New(Config{Services: []string{"s3"}, S3Endpoint: srv.URL, PathStyle: true, AccessKeyID: dblAccessKey, SecretAccessKey: dblSecret})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	elsewhere := &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("report"), ParentURI: s(srv.URL + "/beta")}, Value: s("x")}
	ctx := context.Background()

	create := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("alpha")}}, DataObject: elsewhere}}
	if _, err := a.Provision(ctx, &contract.Request{JobID: "job-parent", Want: create}); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("create of an object in beta within bucket alpha: %v, want unsupported", err)
	}
	res := a.bucketResource("alpha")
	res.Native[nativeObject] = "report"
	update := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: elsewhere}}
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-parent", Want: update}); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("update of the job of bucket alpha naming bucket beta: %v, want unsupported", err)
	}
}
