package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// gatedStore is a memory store whose listings wait until gate is closed:
// a storage that takes its time to list the stored jobs when the broker
// starts.
type gatedStore struct {
	*store.Memory
	gate chan struct{}
}

func (s gatedStore) wait(ctx context.Context) error {
	select {
	case <-s.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s gatedStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Memory.List(ctx, prefix)
}

func (s gatedStore) ListVersions(ctx context.Context, prefix string) ([]store.KeyVersion, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Memory.ListVersions(ctx, prefix)
}

// TestJobsGaugeAbsentUntilIndexBuilt: after a restart, caddy_csb_jobs
// was read from the job index before its first build had listed the
// stored jobs, so a scrape then said 0 jobs in every state (a drop on
// every dashboard, and alerts on it) although storage held two
// successful ones. Until the build ends the series are absent; then
// they count the stored jobs.
func TestJobsGaugeAbsentUntilIndexBuilt(t *testing.T) {
	mem := new(store.Memory)
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "a"})
	cat.AddService("a", jobstest.VM("vm-a", 8, 32))
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	ad := &jobstest.Adapter{Name: "a"}
	manager := func(s store.Store) *jobs.Manager {
		m, err := jobs.New(jobs.Config{Store: s, Placer: placer, ReapInterval: time.Hour,
			Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return ad, true }})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := manager(mem)
	for range 2 {
		r, err := before.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Lease: time.Hour})
		if err != nil || r.Status != csbmsg.StatusOK {
			t.Fatalf("create: %+v %v", r, err)
		}
	}
	before.Stop()

	// The broker starts again on the same storage.
	gate := make(chan struct{})
	m := manager(gatedStore{Memory: mem, gate: gate})
	t.Cleanup(m.Stop)
	c := newStateCollector(nil)
	jobsGauge := func() map[string]float64 {
		ch := make(chan prometheus.Metric, 16)
		c.collectJobs(ch, m)
		close(ch)
		out := map[string]float64{}
		for pm := range ch {
			var d dto.Metric
			if err := pm.Write(&d); err != nil {
				t.Fatal(err)
			}
			out[d.GetLabel()[0].GetValue()] = d.GetGauge().GetValue()
		}
		return out
	}
	if got := jobsGauge(); len(got) != 0 {
		t.Fatalf("before the index is built: caddy_csb_jobs %v, want no series", got)
	}
	close(gate)
	<-m.IndexReady()
	got := jobsGauge()
	if len(got) != len(jobStates) || got["success"] != 2 || got["pending"] != 0 {
		t.Fatalf("after the index is built: caddy_csb_jobs %v, want every state, 2 success", got)
	}
}
