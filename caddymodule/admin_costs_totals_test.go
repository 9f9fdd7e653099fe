package caddymodule

import (
	"context"
	"encoding/csv"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestCostsCSVTotalsAreSumsOfRows: the CSV's owner, provider and total
// rows were the page's totals rounded, the job rows each job's cost
// rounded, and a sum of rounded values is not the rounded sum: three
// jobs of 20 minutes at 1 per core-hour were three rows of 0.333333
// under an owner, a provider and a total of 1, so the report did not
// add up in the spreadsheet it is opened in (docs/costs.md: "The totals
// are the sums of the parts"). Each total row is the sum of the job
// rows above it, to the last digit.
func TestCostsCSVTotalsAreSumsOfRows(t *testing.T) {
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second).UTC()
	clk := clock.NewFake(t0)
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "a", Label: "price:1"})
	cat.AddService("a", jobstest.VM("vm-a", 8, 32))
	ad := &jobstest.Adapter{Name: "a"}
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.New(jobs.Config{Store: new(store.Memory), Placer: placer, Clock: clk, ReapInterval: time.Hour,
		Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return ad, true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	ctx := context.Background()
	var ids []string
	for range 3 {
		r, err := m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Lease: time.Hour})
		if err != nil || r.Status != csbmsg.StatusOK {
			t.Fatalf("create: %+v %v", r, err)
		}
		ids = append(ids, r.Job.ID)
	}
	clk.Advance(20 * time.Minute)
	for _, id := range ids {
		if r, err := m.Remove(ctx, "alice", id); err != nil || r.Status != csbmsg.StatusOK {
			t.Fatalf("remove: %+v %v", r, err)
		}
	}
	e := &engine{consumer: &consumerEngine{jobs: m}}
	app := &App{engine: e, live: new(atomic.Pointer[engine])}
	app.live.Store(e)
	api := &AdminAPI{app: app}

	w := httptest.NewRecorder()
	if err := api.serveCosts(w, httptest.NewRequest(http.MethodGet, "/csb/costs?format=csv", nil)); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// In millionths, the CSV's precision, so that the sums are exact.
	micro := func(cell string) int64 {
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			t.Fatalf("cost %q: %v", cell, err)
		}
		return int64(math.Round(v * 1e6))
	}
	byOwner, byProvider := map[string]int64{}, map[string]int64{}
	var sum int64
	var jobRows, totalRows int
	for _, row := range rows[1:] {
		v := micro(row[12])
		switch row[0] {
		case "job":
			jobRows++
			byOwner[row[1]] += v
			byProvider[row[2]] += v
			sum += v
		case "owner":
			totalRows++
			if v != byOwner[row[1]] {
				t.Errorf("owner %s: row %s, its job rows add up to %d millionths", row[1], row[12], byOwner[row[1]])
			}
		case "provider":
			totalRows++
			if v != byProvider[row[2]] {
				t.Errorf("provider %s: row %s, its job rows add up to %d millionths", row[2], row[12], byProvider[row[2]])
			}
		case "total":
			totalRows++
			if v != sum {
				t.Errorf("total: row %s, the job rows add up to %d millionths", row[12], sum)
			}
		}
	}
	if jobRows != 3 || totalRows != 3 || sum != 999999 {
		t.Fatalf("%d job rows, %d total rows, jobs %d millionths, want 3, 3 and 3 x 333333:\n%q", jobRows, totalRows, sum, rows)
	}
}
