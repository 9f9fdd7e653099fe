package cdmi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
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

// TestACreateThatMayHaveSucceededIsRemoved: the contract's Provision
// returns a Resource for what was, or may have been, created, so the
// broker removes it. A create PUT the provider carried out but answered
// with a 5xx (a proxy's, after the backend made the container) or with
// a 2xx body that is not CDMI JSON failed Provision with no Resource:
// the job's container stayed at the provider for good.
func TestACreateThatMayHaveSucceededIsRemoved(t *testing.T) {
	for _, answer := range []struct {
		name   string
		status int
		body   string
	}{
		{"500 after the create", http.StatusInternalServerError, "backend timeout"},
		{"201 with a body that is not JSON", http.StatusCreated, "<html>created</html>"},
	} {
		t.Run(answer.name, func(t *testing.T) {
			cloud := sandbox.New(sandbox.Config{})
			native := cloud.CDMI("/cdmi")
			var once sync.Once
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hit := false
				if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/csb-j1/") {
					once.Do(func() { hit = true })
				}
				if !hit {
					native.ServeHTTP(w, r)
					return
				}
				native.ServeHTTP(httptest.NewRecorder(), r) // carried out, answer lost
				w.WriteHeader(answer.status)
				_, _ = w.Write([]byte(answer.body))
			}))
			defer srv.Close()
			a, err := cdmi.New(cdmi.Config{Endpoint: srv.URL + "/cdmi/"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Provision(context.Background(), &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}}}})
			if err == nil {
				t.Fatal("Provision succeeded on a failed create")
			}
			if cloud.Inventory().Total() == 0 {
				t.Fatal("the sandbox did not create the container")
			}
			if res == nil {
				t.Fatalf("Provision returned no Resource (%v): the container it may have made is never removed", err)
			}
			if err := a.Remove(context.Background(), res); err != nil {
				t.Fatal(err)
			}
			if n := cloud.Inventory().Total(); n != 0 {
				t.Errorf("%d objects left after Remove", n)
			}
		})
	}
}
