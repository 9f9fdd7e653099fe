package caddymodule

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestAdminJobCountsRechecksApart: the handle of a create whose answer
// was lost, removed once and removed again later, is not a resource
// known to be left at the provider: a healthy job showed "orphans: 1"
// for half an hour. It is counted as a recheck; a lost handle not yet
// removed, and any other orphan, stay orphans.
func TestAdminJobCountsRechecksApart(t *testing.T) {
	j := &jobs.Job{ID: "j", Owner: "alice", Status: jobs.StatusSuccess, Orphans: []jobs.Orphan{
		{ProviderID: "a", Lost: true, Removals: 1},
		{ProviderID: "b", Lost: true},
		{ProviderID: "c"},
	}}
	aj := summarizeJob(j, time.Now())
	if aj.Orphans != 2 || aj.Rechecks != 1 {
		t.Fatalf("orphans %d, rechecks %d; want 2 and 1", aj.Orphans, aj.Rechecks)
	}
}
