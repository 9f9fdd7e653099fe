package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// TestQuotaHeaders: Csb-Max-Price is read or refused; Csb-Cost and
// Csb-Cost-Detail say what a job cost and whether that is final.
func TestQuotaHeaders(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "0.25": true, " 3 ": true, "0": true, "-1": false, "cheap": false, "NaN": false, "Inf": false} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Csb-Max-Price", v)
		p, err := maxPriceHeader(r)
		if (err == nil) != ok || ok && v != "" && p == nil {
			t.Errorf("Csb-Max-Price %q: %v %v", v, p, err)
		}
	}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := &jobs.Job{Cost: &jobs.Cost{ProviderID: "a", Price: 0.5, Unit: quota.UnitCore, Units: 4, Started: start, Since: start}}
	hdr := http.Header{}
	setCostHeaders(hdr, j, start.Add(90*time.Minute))
	if hdr.Get("Csb-Cost") != "3" || hdr.Get("Csb-Cost-Detail") != "state=accruing, rate=2, price=0.5, unit=core, units=4" {
		t.Fatalf("accruing: %v", hdr)
	}
	j.Cost.Until = start.Add(time.Hour)
	setCostHeaders(hdr, j, start.Add(5*time.Hour))
	if hdr.Get("Csb-Cost") != "2" || hdr.Get("Csb-Cost-Detail") != "state=final, rate=2, price=0.5, unit=core, units=4" {
		t.Fatalf("final: %v", hdr)
	}
	hdr = http.Header{}
	setCostHeaders(hdr, &jobs.Job{}, start)
	if len(hdr) != 0 {
		t.Fatalf("a job without a cost: %v", hdr)
	}
}

// TestQuotaCostsFormat: /csb/costs answers JSON or CSV as asked, 406 to
// an Accept that admits neither.
func TestQuotaCostsFormat(t *testing.T) {
	for _, c := range []struct {
		query, accept string
		csv           bool
		status        int
	}{
		{"", "", false, 0},
		{"?format=csv", "application/json", true, 0},
		{"?format=json", "text/csv", false, 0},
		{"?format=xml", "", false, http.StatusBadRequest},
		{"", "text/csv", true, 0},
		{"", "text/csv;q=0.5, application/json", false, 0},
		{"", "*/*", false, 0},
		{"", "application/xml", false, http.StatusNotAcceptable},
	} {
		r := httptest.NewRequest(http.MethodGet, "/csb/costs"+c.query, nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		got, err := costsFormat(r)
		status := 0
		var apiErr caddy.APIError
		if errors.As(err, &apiErr) {
			status = apiErr.HTTPStatus
		} else if err != nil {
			t.Fatalf("%s %q: %v", c.query, c.accept, err)
		}
		if status != c.status || status == 0 && got != c.csv {
			t.Errorf("%s Accept %q: csv %v status %d, want csv %v status %d", c.query, c.accept, got, status, c.csv, c.status)
		}
	}
}
