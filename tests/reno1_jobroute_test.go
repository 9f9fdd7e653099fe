package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReno1JobRouteNeedsItsHandler: the job route is the csb_job_route
// handler and reverse_proxy's dynamic csb source together. With the
// handler, a job's owner reaches the provider and a foreign job id is
// refused with 404 by Caddy's error handling (caddyhttp.Error, no
// loopback responder); with the source alone (the configuration of
// before the handler existed) nothing reaches the provider: the reverse
// proxy has no upstream and answers 503.
func TestReno1JobRouteNeedsItsHandler(t *testing.T) {
	for _, tc := range []struct {
		name, proxy    string
		owner, foreign int
	}{
		{"with csb_job_route", "csb_job_route /csb/jobs/*\n\t\treverse_proxy /csb/jobs/* {\n\t\t\tdynamic csb\n\t\t}", 200, 404},
		{"dynamic csb alone", "reverse_proxy /csb/jobs/* {\n\t\t\tdynamic csb\n\t\t}", 503, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &auditRecorder{}
			up := httptest.NewServer(rec)
			t.Cleanup(up.Close)
			base, p := auditLinkBrokerProxy(t, up.URL, "", tc.proxy)
			id := auditCreateSaaSJob(t, base)
			rec.mu.Lock()
			before := len(rec.seen)
			rec.mu.Unlock()
			get := func(job string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+job+"/page", nil)
				req.SetBasicAuth("alice", testUsers["alice"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(data)
			}
			if code, body := get(id); code != tc.owner {
				t.Fatalf("owner's job: HTTP %d %q, want %d\n%s", code, body, tc.owner, p.Log())
			}
			if code, body := get("AAAAAAAAAAAAAAAAAAAAAA"); code != tc.foreign {
				t.Fatalf("foreign job: HTTP %d %q, want %d", code, body, tc.foreign)
			}
			rec.mu.Lock()
			reached := len(rec.seen) - before
			rec.mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.owner == 200]; reached != want {
				t.Errorf("%d requests reached the provider, want %d", reached, want)
			}
			if tc.owner == 503 && !strings.Contains(p.Log(), "put csb_job_route before reverse_proxy") {
				t.Errorf("the log does not say what is missing:\n%s", p.Log())
			}
		})
	}
}
