package jobroute

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestJobRouteCaddyfile(t *testing.T) {
	h := new(JobRoute)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb_job_route {\n prefix /jobs/\n header Csb-Job\n cache_ttl off\n}")); err != nil {
		t.Fatal(err)
	}
	if h.Prefix != "/jobs/" || h.Header != "Csb-Job" || h.CacheTTL != -1 {
		t.Fatalf("parsed %+v", h)
	}
	parsetest.CheckErrors(t, []parsetest.Case{
		{"", "csb_job_route /a", "wrong argument count"},
		{"", "csb_job_route {\n prefix jobs\n}", "must begin with /"},
		{"", "csb_job_route {\n header\n}", "wrong argument count"},
		{"", "csb_job_route {\n cache_ttl never\n}", "positive duration or off"},
		{"", "csb_job_route {\n unhealthy_after 3\n}", `unrecognized option "unhealthy_after"`},
	}, parsetest.Unmarshal[JobRoute]())
}

func TestJobUpstreamsParse(t *testing.T) {
	u := new(JobUpstreams)
	if err := u.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n unhealthy_after 4\n health_interval 2s\n}")); err != nil {
		t.Fatal(err)
	}
	if u.UnhealthyAfter != 4 || u.HealthInterval != caddy.Duration(2e9) {
		t.Fatalf("parsed %+v", u)
	}
	parsetest.CheckErrors(t, []parsetest.Case{
		{"", "csb /a", "give it to csb_job_route"},
		{"", "csb {\n header Csb-Job\n}", "header is an option of csb_job_route"},
		{"", "csb {\n cache_ttl off\n}", "cache_ttl is an option of csb_job_route"},
		{"", "csb {\n unhealthy_after 0\n}", "not a positive integer"},
		{"", "csb {\n health_interval soon\n}", "duration"},
		{"", "csb {\n colour red\n}", `unrecognized option "colour"`},
	}, parsetest.Unmarshal[JobUpstreams]())
}

func TestJobRouteParsing(t *testing.T) {
	u := &JobRoute{Prefix: "/csb/jobs/"}
	for _, tc := range []struct {
		target, id, rest string
		ok               bool
	}{
		{"/csb/jobs/J1/c/o%20x", "J1", "/c/o%20x", true},
		{"/csb/jobs/J1", "J1", "/", true},
		{"/csb/jobs/J1/", "J1", "/", true},
		{"/csb/jobs/", "", "", false},
		{"/elsewhere/J1/x", "", "", false},
	} {
		r, _ := http.NewRequest("GET", "http://b"+tc.target, nil)
		id, rest, err := u.jobOf(r)
		if (err == nil) != tc.ok || id != tc.id || rest != tc.rest {
			t.Errorf("%s: %q %q %v", tc.target, id, rest, err)
		}
	}
	h := &JobRoute{Prefix: "/csb/jobs/", Header: "Csb-Job"}
	r, _ := http.NewRequest("GET", "http://b/c/o", nil)
	r.Header.Set("Csb-Job", "J2")
	if id, rest, err := h.jobOf(r); err != nil || id != "J2" || rest != "/c/o" || r.Header.Get("Csb-Job") != "" {
		t.Fatalf("header route: %q %q %v", id, rest, err)
	}
}
