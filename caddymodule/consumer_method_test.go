package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestConsumerMethodMatchedWhole: the Consumer interface takes the
// methods of its Allow header, matched whole: "ET" or "OST", which a
// substring match of "GET, HEAD, POST, OPTIONS" let through, are 405
// with Allow before anything else reads the request.
func TestConsumerMethodMatchedWhole(t *testing.T) {
	h := &Handler{ConsumerPath: "/csb/consumer"}
	for _, c := range []struct{ method, path, allow string }{
		{"ET", "/csb/consumer", allowCollection},
		{"OST", "/csb/consumer", allowCollection},
		{"UT", "/csb/consumer/j1", allowJob},
		{"OVE", "/csb/consumer/j1", allowJob},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		r.Method = c.method
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = errors.New("panicked: the method passed the check")
				}
			}()
			err = h.serveConsumer(w, r)
		}()
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != http.StatusMethodNotAllowed || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %v, Allow %q; want 405 with Allow %q", c.method, c.path, err, w.Header().Get("Allow"), c.allow)
		}
	}
}

// TestConsumerAllowedAllocatesNothing: the method check runs on every
// Consumer request and costs no allocation.
func TestConsumerAllowedAllocatesNothing(t *testing.T) {
	if !allowed(allowJob, "MOVE") || allowed(allowJob, "OVE") || allowed(allowCollection, "") {
		t.Fatal("allowed matches wrongly")
	}
	if n := testing.AllocsPerRun(100, func() { _ = allowed(allowJob, "OPTIONS") }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
