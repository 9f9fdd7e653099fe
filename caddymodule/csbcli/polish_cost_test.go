package csbcli

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func polishF(v float64) *float64 { return &v }

func TestPolishCostText(t *testing.T) {
	for _, c := range []struct {
		cost  *float64
		final bool
		rate  *float64
		want  string
	}{
		{nil, false, nil, "-"},
		{polishF(0.000133), false, polishF(0.04), "0.000133 accruing (0.04 per hour)"},
		{polishF(0.5), false, nil, "0.5 accruing"},
		{polishF(1.25), true, polishF(0.04), "1.25 final"},
		{polishF(0), true, nil, "0 final"},
	} {
		if got := costText(c.cost, c.final, c.rate); got != c.want {
			t.Errorf("costText(%v, %v, %v) = %q, want %q", c.cost, c.final, c.rate, got, c.want)
		}
	}
}

// TestPolishJobViewCost: the Csb-Cost headers become the view's cost
// fields and the table's COST line; an answer without them has neither.
func TestPolishJobViewCost(t *testing.T) {
	resp := &csbmsg.ServiceResponse{Status: csbmsg.StatusOK, JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "success", Expires: 60}}
	for _, c := range []struct {
		name, cost, detail string
		wantFinal          bool
		wantLine           string
	}{
		{"accruing", "0.000133", "state=accruing, rate=0.04, price=0.02, unit=core, units=2", false, "0.000133 accruing (0.04 per hour)"},
		{"final", "0.25", "state=final, rate=0.04, price=0.02, unit=core, units=2", true, "0.25 final"},
		{"none", "", "", false, ""},
	} {
		h := http.Header{}
		if c.cost != "" {
			h.Set("Csb-Cost", c.cost)
			h.Set("Csb-Cost-Detail", c.detail)
		}
		v := viewOf(&answer{HTTP: 200, Header: h, Resp: resp})
		if c.cost == "" {
			if v.Cost != nil || v.CostDetail != "" {
				t.Errorf("%s: %+v", c.name, v)
			}
		} else if v.Cost == nil || v.CostFinal != c.wantFinal || v.CostDetail != c.detail {
			t.Errorf("%s: %+v", c.name, v)
		}
		var out bytes.Buffer
		if err := printJob(&out, v); err != nil {
			t.Fatal(err)
		}
		line := regexp.MustCompile(`(?m)^COST\s+(.*)$`).FindStringSubmatch(out.String())
		if (line == nil) != (c.wantLine == "") || (line != nil && line[1] != c.wantLine) {
			t.Errorf("%s: table\n%s\nwant %q", c.name, out.String(), c.wantLine)
		}
	}
}

func TestPolishPrintJobsCost(t *testing.T) {
	var out bytes.Buffer
	created := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	err := printJobs(&out, []csbmsg.ListedJob{
		{JobID: "a", JobStatus: "success", Created: created, Cost: polishF(0.01), CostRate: polishF(0.04)},
		{JobID: "b", JobStatus: "removed", Created: created, Cost: polishF(0.02), CostFinal: true},
		{JobID: "c", JobStatus: "success", Created: created},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "LEASE  COST") || !strings.Contains(lines[1], "0.01 accruing (0.04 per hour)") ||
		!strings.Contains(lines[2], "0.02 final") || !strings.Contains(lines[3], "  -  ") {
		t.Errorf("jobs table:\n%s", out.String())
	}
}
