package openstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestSwiftObjectInAnotherContainerRefused: a DataObject whose parentURI
// names another container than the job's was written into the job's
// container and answered as done: an update naming container "beta" for
// the job of container "alpha", or a create naming ContainerObject
// "alpha" and a parentURI in "beta". It is refused before Swift (or
// TempAuth) is called.
func TestSwiftObjectInAnotherContainerRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("provider called: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	a := mustNew(t, Config{TempAuthURL: srv.URL + "/auth/v1.0", TempAuthUser: "test:tester", TempAuthKey: "testing"})
	s := func(v string) *string { return &v }
	elsewhere := &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("report"), ParentURI: s(srv.URL + "/v1/AUTH_test/beta")}, Value: s("x")}
	ctx := context.Background()

	create := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("alpha")}}, DataObject: elsewhere}}
	if _, err := a.Provision(ctx, &contract.Request{JobID: "job-parent", Want: create}); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("create of an object in beta within container alpha: %v, want unsupported", err)
	}
	res := &contract.Resource{URI: srv.URL + "/v1/AUTH_test/alpha", State: contract.StateReady, Native: map[string]string{
		nativeKind: kindStorage, nativeContainer: "alpha", nativeContainerCreated: "true", nativeStorageURL: srv.URL + "/v1/AUTH_test", nativeObject: "report",
	}}
	update := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: elsewhere}}
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "job-parent", Want: update}); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("update of the job of container alpha naming container beta: %v, want unsupported", err)
	}
}
