package occi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestRemoveDoesNotTakeARedirectedGetForADelete: a server that answers a
// DELETE with a redirect (here one adding a trailing slash) must not
// have the GET Go's client follows it with taken for the delete: Remove
// reported the compute removed while the server still held it.
func TestRemoveDoesNotTakeARedirectedGetForADelete(t *testing.T) {
	var deleted, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/compute/1":
			http.Redirect(w, r, "/compute/1/", http.StatusMovedPermanently)
		case r.Method == http.MethodDelete:
			deleted.Add(1)
			w.WriteHeader(http.StatusOK)
		default:
			gets.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("Category: compute; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"\n"))
		}
	}))
	defer srv.Close()
	a, err := occi.New(occi.Config{Endpoint: srv.URL, MaxRetries: -1, RetryBackoff: -1})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{URI: srv.URL + "/compute/1", Native: map[string]string{"compute": srv.URL + "/compute/1"}}
	err = a.Remove(context.Background(), res)
	if err == nil && deleted.Load() == 0 {
		t.Errorf("Remove = nil, yet no DELETE reached the compute (%d GETs followed the redirect)", gets.Load())
	}
	if gets.Load() != 0 {
		t.Errorf("the DELETE's redirect was followed with %d GETs", gets.Load())
	}
}
