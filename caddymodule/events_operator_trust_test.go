package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestEventsDeliveryTrustsOnlyTheOperatorWebhookURL: a delivery is
// judged by its URL alone, and the client for it trusted any URL on the
// host of an operator webhook as the operator's own, whatever it resolves
// to. A consumer's callback elsewhere on that host (registered while
// allow_private was on, or before the operator configured the webhook
// there) was then delivered to a private host at any path at every retry,
// though the consumers' rules refuse it. The operator's own URL still
// reaches its loopback receiver.
func TestEventsDeliveryTrustsOnlyTheOperatorWebhookURL(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	hook := srv.URL + "/csb-events"
	e := &eventsEngine{}
	e.view.Store(&eventsView{cfg: &EventsConfig{Webhooks: []*OperatorWebhook{{URL: hook}}}})
	post := func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.client(u)
		if err != nil {
			return err
		}
		resp, err := c.Post(raw, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := post(hook); err != nil {
		t.Fatalf("the operator's webhook on loopback: %v", err)
	}
	if err := post(srv.URL + "/admin/drop"); err == nil {
		t.Error("a consumer's callback on the operator webhook's loopback host was delivered (allow_private is off)")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/csb-events" {
		t.Fatalf("the receiver's host got %v, want only /csb-events", paths)
	}
}
