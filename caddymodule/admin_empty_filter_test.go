package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminEmptyFilterRefused: a filter given without a value (?owner=,
// ?state=, ?since=: a script's variable left empty) was taken for no
// filter at all, so /csb/jobs?owner= listed every user's jobs and
// /csb/costs?owner= billed that empty name for everyone's costs, with a
// 200. A filter without a value is answered 400, before any state is
// read.
func TestAdminEmptyFilterRefused(t *testing.T) {
	api, _ := costsMoveAPI(t)
	call := func(serve func(http.ResponseWriter, *http.Request) error, target string) (status int) {
		defer func() {
			if v := recover(); v != nil {
				status = -1 // went on to read what this engine does not have
			}
		}()
		return adminStatus(serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil)))
	}
	for _, c := range []struct {
		serve func(http.ResponseWriter, *http.Request) error
		path  string
		names []string
	}{
		{api.serveJobs, "/csb/jobs", []string{"owner", "state", "provider", "kind"}},
		{api.serveCosts, "/csb/costs", []string{"owner", "provider", "since"}},
		{api.serveCatalog, "/csb/catalog", []string{"provider", "kind", "status"}},
		{api.serveSubscriptions, "/csb/subscriptions", []string{"provider", "state"}},
		{api.serveWebhooks, "/csb/webhooks", []string{"state", "job", "subscriber"}},
	} {
		for _, name := range c.names {
			for _, q := range []string{name + "=", name + "=+", name + "=,"} {
				target := fmt.Sprintf("%s?%s", c.path, q)
				if st := call(c.serve, target); st != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400", target, st)
				}
			}
		}
	}
	// A value is still taken, and an absent filter is no filter.
	for _, target := range []string{"/csb/jobs?owner=alice", "/csb/jobs", "/csb/costs?owner=alice&provider=a", "/csb/costs"} {
		serve := api.serveJobs
		if strings.HasPrefix(target, "/csb/costs") {
			serve = api.serveCosts
		}
		if st := call(serve, target); st != http.StatusOK {
			t.Errorf("%s: status %d, want 200", target, st)
		}
	}
}
