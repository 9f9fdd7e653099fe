package occi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// TestACreateWhoseAnswerIsLostIsRemoved: the contract's Provision
// returns a Resource for what was, or may have been, created, so the
// broker removes it. A compute create the server carried out but whose
// answer the adapter could not use (a 5xx from a proxy after the backend
// made it, or a 201 naming no location) left the compute out of the
// Resource: Remove deleted the job's storage and network, and the
// compute ran on at the provider for good. Remove now finds it by the
// job's title.
func TestACreateWhoseAnswerIsLostIsRemoved(t *testing.T) {
	for _, lost := range []struct {
		name   string
		status int
	}{
		{"500", http.StatusInternalServerError},
		{"201 without a location", http.StatusCreated},
	} {
		t.Run(lost.name, func(t *testing.T) {
			srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
			target, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.ModifyResponse = func(resp *http.Response) error {
				if r := resp.Request; r.Method == http.MethodPost && r.URL.Path == "/compute/" && r.URL.RawQuery == "" {
					resp.StatusCode = lost.status
					resp.Header.Del("Location")
					resp.Body = io.NopCloser(bytes.NewReader(nil))
					resp.Header.Del("Content-Length")
				}
				return nil
			}
			px := httptest.NewServer(rp)
			defer px.Close()
			a, err := occi.New(occi.Config{Endpoint: px.URL, RetryBackoff: -1})
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-lost", Want: fullIaaS()})
			if err == nil {
				t.Fatal("Provision succeeded without the compute's location")
			}
			if srv.Count(occi.KindCompute) != 1 {
				t.Fatalf("the server holds %d computes, want the one created", srv.Count(occi.KindCompute))
			}
			if res == nil {
				t.Fatalf("Provision returned no Resource: %v", err)
			}
			if err := a.Remove(context.Background(), res); err != nil {
				t.Fatal(err)
			}
			if n := srv.Inventory(); n != 0 {
				var left []string
				for _, k := range []string{occi.KindCompute, occi.KindStorage, occi.KindNetwork} {
					if c := srv.Count(k); c > 0 {
						left = append(left, strings.TrimPrefix(k, occi.SchemeInfra))
					}
				}
				t.Errorf("%d entities left after Remove (%v)", n, left)
			}
		})
	}
}
