package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminUsesTheLiveEngineOnly: the admin API is served on the admin
// endpoint's goroutines, beside the configuration loads, and a reload
// cleans the previous app up while its routes may still be answering:
// cleanupEngine clears the app's engine field, then its live pointer.
// The handlers checked the live pointer (running) and then read the
// field, unsynchronised (a data race with the cleanup) and, between the
// two steps of the cleanup, nil: GET /csb/jobs, /csb/jobs/<id> and
// /csb/costs dereferenced it and panicked. They use the engine the live
// pointer gave them.
func TestAdminUsesTheLiveEngineOnly(t *testing.T) {
	api, _ := costsMoveAPI(t)
	api.app.engine = nil // cleanupEngine's first step; live still holds the engine
	for _, c := range []struct {
		path  string
		serve func(http.ResponseWriter, *http.Request) error
		want  string
	}{
		{"/csb/jobs?owner=alice", api.serveJobs, `"owner": "alice"`},
		{"/csb/jobs/nosuchjob", api.serveJob, ""},
		{"/csb/costs?owner=bob", api.serveCosts, `"owner": "bob"`},
	} {
		w := httptest.NewRecorder()
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", c.path, p)
				}
			}()
			err = c.serve(w, httptest.NewRequest(http.MethodGet, c.path, nil))
		}()
		if c.want == "" {
			if adminStatus(err) != http.StatusNotFound {
				t.Errorf("%s: %v, want 404", c.path, err)
			}
			continue
		}
		if err != nil || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %v %s", c.path, err, w.Body.String())
		}
	}
	// Once the live pointer is cleared too, every route answers 503.
	api.app.live.Store(nil)
	for _, serve := range []func(http.ResponseWriter, *http.Request) error{api.serveJobs, api.serveJob, api.serveCosts} {
		if err := serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/csb/jobs/x", nil)); adminStatus(err) != http.StatusServiceUnavailable {
			t.Errorf("after the cleanup: %v, want 503", err)
		}
	}
}
