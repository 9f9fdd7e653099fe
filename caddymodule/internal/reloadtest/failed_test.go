package reloadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFailedReloadKeepsTheRunningConfiguration: a reload whose new
// configuration fails to start leaves the running configuration as it
// was. The new csb app's Start applies its configuration to the engine
// the running one shares (the catalogue's providers, who may publish,
// the subscriptions; the job manager's settings, placement, adapters and
// events) before a step that can fail: its discovery (here: provider b's
// link adapter cannot discover), or another app of the new configuration
// started after it (an HTTP listener's port taken). Caddy then stops and
// cleans up the new configuration and keeps the old one running, but
// nothing gave the engine back: provider a, still configured, was out of
// the catalogue with the services it had published and its subscription
// was being removed at the provider; after another app's failure, jobs
// also ran with the failed configuration's settings, placer and
// adapters, and webhooks with its events settings.
func TestFailedReloadKeepsTheRunningConfiguration(t *testing.T) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer provider.Close()
	b := newBroker(t)
	b.mustLoad(fmt.Sprintf(`{"providers": [{"id": "a", "publishers": ["*"], "push": {"ids": ["push-a"]}, "subscribe": {"url": %q}}],
		"consumer": {"lease_default": "1h"}}`, provider.URL+"/csb"), "")
	app := b.app()
	r := httptest.NewRequest(http.MethodPost, "/csb/publish", strings.NewReader(pushA))
	r.Header.Set("Content-Type", "application/csb-publish+xml")
	if s := <-serve(b.handler("http.handlers.csb", `{}`), r); s.err != nil || !strings.Contains(s.rec.Body.String(), `status="200"`) {
		t.Fatalf("publish: %v %v %s", s.panic, s.err, s.rec.Body)
	}

	err := b.load(`{"providers": [{"id": "b", "adapter": {"name": "link"}, "discover": {}}], "consumer": {"lease_default": "2h"}}`, "")
	if err == nil || !strings.Contains(err.Error(), "discover") {
		t.Fatalf("the failing configuration loaded: %v", err)
	}
	if b.app() != app {
		t.Fatal("the failed reload replaced the running configuration")
	}
	cat := app.Catalogue()
	if _, ok := cat.Provider("b"); ok {
		t.Error("the failed configuration's provider b is in the catalogue")
	}
	if _, ok := cat.Provider("a"); !ok {
		t.Error("the running configuration's provider a is not in the catalogue")
	}
	// The failed configuration's Configure had dropped provider a from
	// the catalogue, with what it had published; its record (the
	// notification's journal, once compacted) is merged again by the
	// catalogue's own compaction and sync, which the test runs at once.
	if err := cat.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := cat.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if svcs := cat.Services("a"); len(svcs) != 1 || svcs[0].Service.ID != "x" {
		t.Errorf("provider a's published services: %+v, want x", svcs)
	}
	if subs := app.SubscriptionStates(); len(subs) != 1 || subs[0].ProviderID != "a" {
		t.Errorf("subscriptions %+v, want provider a's", subs)
	}
	if got := app.JobManager().Config().LeaseDefault; got != time.Hour {
		t.Errorf("the job manager's lease_default is %s, want the running configuration's 1h", got)
	}
}
