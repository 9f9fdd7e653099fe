package occi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// TestAnEntityInAnotherRenderingIsNotReadAsEmpty: a server that answers
// a GET of an entity in OCCI's JSON rendering, whatever the Accept
// header asked, had its answer read as an entity with no attribute (the
// body was skipped as not text). Find then saw no title on the job's
// compute and reported the provider holding nothing for the job, so the
// broker retried elsewhere and the compute stayed behind; Status read it
// as pending with nothing granted. Such an answer is an error.
func TestAnEntityInAnotherRenderingIsNotReadAsEmpty(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/-/":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(`Category: compute; scheme="` + occi.SchemeInfra + `"; class="kind"; location="/compute/"` + "\n"))
		case "/compute/":
			w.Header().Set("Content-Type", "text/uri-list")
			_, _ = w.Write([]byte("/compute/1\n"))
		case "/compute/1":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"kind":"` + occi.KindCompute + `","attributes":{"occi":{"core":{"title":"job-1"},"compute":{"state":"active"}}},"id":"1"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	a, err := occi.New(occi.Config{Endpoint: srv.URL, RetryBackoff: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{}}}}
	if res, err := a.Find(ctx, req); err == nil {
		t.Errorf("Find = %+v, nil; want an error, not a job held nowhere", res)
	}
	res := &contract.Resource{URI: srv.URL + "/compute/1", Native: map[string]string{"compute": srv.URL + "/compute/1"}}
	if st, err := a.Status(ctx, res); err == nil {
		t.Errorf("Status = %s, nil; want an error", st.State)
	}
}

// TestAStringHoldingALineBreakIsRefused: the text/plain rendering is one
// line per value; the adapter escaped \n in quoted values but sent a CR
// (and the other control characters, NEL, U+2028) as it was. A server
// that ends lines at a CR, as many line splitters do, read what followed
// as a line of the request's own: a hostname could carry a Link from the
// job's compute to another tenant's network. Such values are refused
// before any request.
func TestAStringHoldingALineBreakIsRefused(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a := newAdapter(t, srv, nil)
	inject := "vm1\"\rLink: </network/other-tenant>; rel=\"" + occi.KindNetwork + "\"; category=\"" + occi.KindNetworkInterface + "\"\r"
	for _, want := range []*csbmsg.IaaS{
		{Compute: &csbmsg.Compute{Hostname: p(inject)}},
		{Compute: &csbmsg.Compute{Hostname: p("vm1\u2028x")}},
		{Compute: &csbmsg.Compute{}, Storage: &csbmsg.Storage{}, StorageLink: &csbmsg.StorageLink{Mountpoint: p("/data\u0085x")}},
	} {
		_, err := a.Provision(context.Background(), &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: want}})
		if contract.KindOf(err) != contract.KindUnsupported {
			t.Errorf("Provision with a control character: %v, want %s", err, contract.KindUnsupported)
		}
	}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			t.Errorf("sent %s %s:\n%s", r.Method, r.Path, r.Body)
		}
	}
}
