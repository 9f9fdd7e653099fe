package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestPolishListedJobCost: the JSON job list carries a job's cost as the
// Csb-Cost header does (six decimals), its rate while it accrues, and
// nothing for a job without a cost.
func TestPolishListedJobCost(t *testing.T) {
	start := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	now := start.Add(90 * time.Second)
	accruing := &jobs.Job{ID: "a", Status: jobs.StatusSuccess, Cost: &jobs.Cost{ProviderID: "p", Price: 0.02, Unit: "core", Units: 2, Started: start, Since: start}}
	final := &jobs.Job{ID: "f", Status: jobs.StatusRemoved, Cost: &jobs.Cost{ProviderID: "p", Price: 0.02, Unit: "core", Units: 2, Started: start, Since: start, Until: start.Add(time.Hour)}}
	none := &jobs.Job{ID: "n", Status: jobs.StatusSuccess}
	for _, c := range []struct {
		j    *jobs.Job
		want string
	}{
		{accruing, `"cost":0.001,"cost_rate":0.04}`},
		{final, `"cost":0.04,"cost_final":true}`},
		{none, `"updated":"0001-01-01T00:00:00Z"}`},
	} {
		data, err := json.Marshal(listedJob(c.j, now))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(data), c.want) {
			t.Errorf("job %s: %s, want it to end %s", c.j.ID, data, c.want)
		}
	}
}
