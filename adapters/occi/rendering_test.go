package occi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
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
