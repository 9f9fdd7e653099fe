package caddymodule

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// costsMoveAPI is an admin API over a job engine with providers a (price
// 1 per core-hour) and b (price 3), where alice's 2-core job was at a for
// an hour, then moved to b for an hour, then removed (a: 2, b: 6), and
// bob's 1-core job was at a for the same two hours (2). Every cost is
// final, so the report, made at the wall clock's now, is exact. It
// returns the API and when alice's job was created.
func costsMoveAPI(t *testing.T) (*AdminAPI, time.Time) {
	t.Helper()
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second).UTC()
	clk := clock.NewFake(t0)
	cat := new(jobstest.Catalog)
	ads := map[string]*jobstest.Adapter{}
	for p, price := range map[string]string{"a": "price:1", "b": "price:3"} {
		cat.AddProvider(catalog.ProviderEntry{ID: p, Label: price})
		cat.AddService(p, jobstest.VM("vm-"+p, 8, 32))
		ads[p] = &jobstest.Adapter{Name: p}
	}
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.New(jobs.Config{Store: new(store.Memory), Placer: placer, Clock: clk, ReapInterval: time.Hour,
		Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) { a, ok := ads[id]; return a, ok }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	ctx := context.Background()
	create := func(owner string, cores uint64) *jobs.Job {
		r, err := m.Create(ctx, owner, jobstest.VMRequest(cores, 1), jobs.CreateOptions{Lease: 4 * time.Hour})
		if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "a" {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job
	}
	alice, bob := create("alice", 2), create("bob", 1)
	clk.Advance(time.Hour)
	if r, err := m.Move(ctx, "alice", alice.ID, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move: %+v %v", r, err)
	}
	clk.Advance(time.Hour)
	for owner, id := range map[string]string{"alice": alice.ID, "bob": bob.ID} {
		if r, err := m.Remove(ctx, owner, id); err != nil || r.Status != csbmsg.StatusOK {
			t.Fatalf("remove: %+v %v", r, err)
		}
	}
	e := &engine{consumer: &consumerEngine{jobs: m}}
	app := &App{engine: e, live: new(atomic.Pointer[engine])}
	app.live.Store(e)
	return &AdminAPI{app: app}, t0
}

func costsGet(t *testing.T, api *AdminAPI, query string) adminCosts {
	t.Helper()
	w := httptest.NewRecorder()
	if err := api.serveCosts(w, httptest.NewRequest(http.MethodGet, "/csb/costs?"+query, nil)); err != nil {
		t.Fatalf("?%s: %v", query, err)
	}
	var out adminCosts
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("?%s: %v\n%s", query, err, w.Body.String())
	}
	return out
}

func costsNear(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// TestCostsMovedJobByProvider: a job that moved cost its first provider's
// price until the move and the second's after it, and /csb/costs reports
// each part under its provider. ?provider= matched a job's current
// provider only, so the moved job's part at its first provider was
// missing from that provider's report, and the second provider's report
// counted the whole job (its total was not its provider's total); and a
// ?since= window split the job's cost in the window as its whole cost
// splits, so a window after the move still gave the first provider a
// share. The totals must be the sum of the parts, in JSON and in the
// CSV's job rows.
func TestCostsMovedJobByProvider(t *testing.T) {
	api, t0 := costsMoveAPI(t)
	since := func(d time.Duration) string { return "since=" + url.QueryEscape(t0.Add(d).Format(time.RFC3339)) }
	for _, c := range []struct {
		query     string
		total     float64
		providers map[string]float64
		aliceAt   map[string]float64 // alice's parts
	}{
		{"", 10, map[string]float64{"a": 4, "b": 6}, map[string]float64{"a": 2, "b": 6}},
		{"provider=a", 4, map[string]float64{"a": 4}, map[string]float64{"a": 2}},
		{"provider=b", 6, map[string]float64{"b": 6}, map[string]float64{"b": 6}},
		// From the middle of the stay at a: half of it, all of b's.
		{since(30 * time.Minute), 8.5, map[string]float64{"a": 2.5, "b": 6}, map[string]float64{"a": 1, "b": 6}},
		// After the move: nothing of alice's at a.
		{since(90 * time.Minute), 3.5, map[string]float64{"a": 0.5, "b": 3}, map[string]float64{"b": 3}},
		{since(90*time.Minute) + "&provider=a", 0.5, map[string]float64{"a": 0.5}, nil},
	} {
		out := costsGet(t, api, c.query)
		if !costsNear(out.Total, c.total) {
			t.Errorf("?%s: total %v, want %v", c.query, out.Total, c.total)
		}
		var sumProviders, sumOwners, sumJobs float64
		got := map[string]float64{}
		for _, p := range out.Providers {
			got[p.ID] = p.Total
			sumProviders += p.Total
		}
		for _, o := range out.Owners {
			sumOwners += o.Total
		}
		if len(got) != len(c.providers) {
			t.Errorf("?%s: providers %+v, want %v", c.query, out.Providers, c.providers)
		}
		for p, v := range c.providers {
			if !costsNear(got[p], v) {
				t.Errorf("?%s: provider %s %v, want %v", c.query, p, got[p], v)
			}
		}
		var aliceParts map[string]float64
		for _, j := range out.Jobs {
			sumJobs += j.Cost
			var parts float64
			for _, p := range j.Parts {
				parts += p.Cost
			}
			if !costsNear(parts, j.Cost) {
				t.Errorf("?%s: job %s costs %v, its parts %v", c.query, j.Owner, j.Cost, parts)
			}
			if j.Owner == "alice" {
				aliceParts = map[string]float64{}
				for _, p := range j.Parts {
					aliceParts[p.ProviderID] = p.Cost
				}
			}
		}
		if len(aliceParts) != len(c.aliceAt) {
			t.Errorf("?%s: alice's parts %v, want %v", c.query, aliceParts, c.aliceAt)
		}
		for p, v := range c.aliceAt {
			if !costsNear(aliceParts[p], v) {
				t.Errorf("?%s: alice's part at %s %v, want %v", c.query, p, aliceParts[p], v)
			}
		}
		for what, v := range map[string]float64{"providers": sumProviders, "owners": sumOwners, "jobs": sumJobs} {
			if !costsNear(v, out.Total) {
				t.Errorf("?%s: the %s add up to %v, the total is %v", c.query, what, v, out.Total)
			}
		}
	}

	// The CSV: alice's job has a row at a (its stay there: from its start
	// to the move, final, no current price) and one at b; the job rows of
	// each provider add up to its provider row.
	w := httptest.NewRecorder()
	if err := api.serveCosts(w, httptest.NewRequest(http.MethodGet, "/csb/costs?format=csv&"+since(30*time.Minute), nil)); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byProvider, providerRows := map[string]float64{}, map[string]float64{}
	var aliceRows [][]string
	for _, row := range rows[1:] {
		var v float64
		if err := json.Unmarshal([]byte(row[12]), &v); err != nil {
			t.Fatalf("cost %q: %v", row[12], err)
		}
		switch row[0] {
		case "job":
			byProvider[row[2]] += v
			if row[1] == "alice" {
				aliceRows = append(aliceRows, row)
			}
		case "provider":
			providerRows[row[2]] = v
		}
	}
	for p, v := range providerRows {
		if !costsNear(byProvider[p], v) {
			t.Errorf("CSV: the job rows at %s add up to %v, its provider row says %v", p, byProvider[p], v)
		}
	}
	moved := t0.Add(time.Hour).Format(time.RFC3339)
	if len(aliceRows) != 2 || aliceRows[0][2] != "a" || aliceRows[0][10] != moved || aliceRows[0][11] != "true" || aliceRows[0][7] != "" || aliceRows[0][12] != "1" ||
		aliceRows[1][2] != "b" || aliceRows[1][9] != moved || aliceRows[1][7] != "3" || aliceRows[1][12] != "6" {
		t.Errorf("CSV: alice's rows %q", aliceRows)
	}
}
