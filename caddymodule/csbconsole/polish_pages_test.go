package csbconsole

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestPolishViewJobCost: a job's cost as the console's pages show it.
func TestPolishViewJobCost(t *testing.T) {
	start := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	now := start.Add(90 * time.Second)
	v := viewJob(&jobs.Job{ID: "a", Status: jobs.StatusSuccess, Cost: &jobs.Cost{ProviderID: "p", Price: 0.02, Unit: "core", Units: 2, Started: start, Since: start}}, now)
	if v.Cost != "0.001" || v.CostFinal || v.CostRate != "0.04" || v.CostPrice != "0.02" || v.CostUnit != "core" || v.CostUnits != "2" {
		t.Errorf("accruing: %+v", v)
	}
	v = viewJob(&jobs.Job{ID: "f", Status: jobs.StatusRemoved, Cost: &jobs.Cost{ProviderID: "p", Price: 0.02, Unit: "core", Units: 2, Started: start, Since: start, Until: start.Add(time.Hour)}}, now)
	if v.Cost != "0.04" || !v.CostFinal {
		t.Errorf("final: %+v", v)
	}
	if v = viewJob(&jobs.Job{ID: "n", Status: jobs.StatusSuccess}, now); v.Cost != "" {
		t.Errorf("no cost: %+v", v)
	}
}
