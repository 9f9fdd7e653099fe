package cimi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestNetworkInErrorIsFailed: a Network the provider reports in state
// ERROR will not become usable; Status reported the job pending, so
// the broker polled it until its deadline instead of removing it.
// Machines and Volumes in ERROR are already failed.
func TestNetworkInErrorIsFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"resourceURI":"http://schemas.dmtf.org/cimi/1/Network","id":"/networks/1","name":"n","state":"ERROR","networkType":"PRIVATE"}`))
	}))
	defer srv.Close()
	a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cep"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{URI: srv.URL + "/networks/1", Native: map[string]string{"network": srv.URL + "/networks/1"}}
	out, err := a.Status(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if out.State != contract.StateFailed {
		t.Errorf("state = %s, want %s", out.State, contract.StateFailed)
	}
}
