package cdmi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// recorder is a CDMI endpoint that records the requests it gets and
// answers each with 201 and an empty container.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.seen = append(rec.seen, r.Method+" "+r.URL.EscapedPath())
	rec.mu.Unlock()
	w.Header().Set("Content-Type", cdmi.TypeContainer)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"objectType":"application/cdmi-container"}`))
}

// TestObjectNamesThatAreDotSegmentsAreRefused: an objectID is checked to
// be an NMTOKEN, which "." and ".." are. The data object's URL was then
// <job>/.. : a server (or any proxy in front) resolves it to the CDMI
// root, so Provision wrote the data object over the root container and
// Remove deleted the root container, every tenant's data; "." named the
// job's own container, which the data object's create overwrote.
func TestObjectNamesThatAreDotSegmentsAreRefused(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	a, err := cdmi.New(cdmi.Config{Endpoint: srv.URL + "/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".", ".."} {
		for _, want := range []*csbmsg.DSaaS{
			{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr(name)}, Value: ptr("x")}},
			{QueueObject: &csbmsg.QueueObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr(name)}}},
		} {
			res, err := a.Provision(context.Background(), &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: want}})
			if contract.KindOf(err) != contract.KindUnsupported || res != nil {
				t.Errorf("objectID %q: %v, %v; want %s and nothing created", name, res, err, contract.KindUnsupported)
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 0 {
		t.Errorf("requests sent for a refused name: %v", rec.seen)
	}
}

// TestDataAndQueueObjectsNeverShareAPath: a data object named "queue"
// next to a queue object without a name (which the adapter names
// "queue"), or a queue named "data" next to an unnamed data object, were
// both put at the same path: the second create replaced or failed on
// the first, and the job held one object where it asked for two.
func TestDataAndQueueObjectsNeverShareAPath(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	a, err := cdmi.New(cdmi.Config{Endpoint: srv.URL + "/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*csbmsg.DSaaS{
		{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("queue")}}, QueueObject: &csbmsg.QueueObject{}},
		{DataObject: &csbmsg.DataObject{}, QueueObject: &csbmsg.QueueObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("data")}}},
	} {
		res, err := a.Provision(context.Background(), &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: want}})
		if contract.KindOf(err) != contract.KindUnsupported || res != nil {
			t.Errorf("%+v %+v: %v, %v; want %s and nothing created", want.DataObject, want.QueueObject, res, err, contract.KindUnsupported)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 0 {
		t.Errorf("requests sent for clashing names: %v", rec.seen)
	}
}
