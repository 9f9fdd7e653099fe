package jobs_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// env is one broker's job engine over providers a, b, c... each offering
// one VM service with 8 cores and 32 GB.
type env struct {
	t      *testing.T
	store  store.Store
	cat    *jobstest.Catalog
	ads    map[string]*jobstest.Adapter
	clock  *clock.Fake // moves only when told
	placer *placement.Placer
	m      *jobs.Manager
	signal chan struct{}
	cfg    jobs.Config
}

func newEnv(t *testing.T, providers []string, tweak func(*jobs.Config)) *env {
	t.Helper()
	e := &env{t: t, store: new(store.Memory), cat: new(jobstest.Catalog), ads: map[string]*jobstest.Adapter{},
		clock: clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)), signal: make(chan struct{}, 1)}
	for _, p := range providers {
		e.cat.AddProvider(catalog.ProviderEntry{ID: p})
		e.cat.AddService(p, jobstest.VM("vm-"+p, 8, 32))
		e.ads[p] = &jobstest.Adapter{Name: p}
	}
	var err error
	e.placer, err = placement.New(placement.Config{Catalog: e.cat, Order: providers})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = jobs.Config{
		Store:  e.store,
		Placer: e.placer,
		Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			return a, ok
		},
		Logger:         zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Clock:          e.clock,
		AttemptTimeout: 5 * time.Second,
		RespondWithin:  5 * time.Second,
		PollInterval:   time.Millisecond,
		ReapInterval:   time.Hour, // tests call ReapOnce
		LeaseMin:       time.Minute,
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.m = e.start(e.cfg)
	return e
}

// start starts a manager on the env's store (a new broker process).
func (e *env) start(cfg jobs.Config) *jobs.Manager {
	e.t.Helper()
	inner := cfg.OnChange
	cfg.OnChange = func(j *jobs.Job) {
		if inner != nil {
			inner(j)
		}
		select {
		case e.signal <- struct{}{}:
		default:
		}
	}
	m, err := jobs.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(m.Stop)
	return m
}

// waitJob waits until owner's job id satisfies cond, re-checking on every
// job write.
func (e *env) waitJob(m *jobs.Manager, owner, id string, cond func(*jobs.Job) bool) *jobs.Job {
	e.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		j, err := m.Get(context.Background(), owner, id)
		if err == nil && cond(j) {
			return j
		}
		select {
		case <-e.signal:
		case <-deadline.C:
			e.t.Fatalf("job %s never reached the expected state; last: %+v (err %v)", id, j, err)
		}
	}
}

func (e *env) create(owner string, cores uint64) *jobs.Result {
	e.t.Helper()
	r, err := e.m.Create(context.Background(), owner, jobstest.VMRequest(cores, 1), jobs.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// listJobs returns every stored job.
func (e *env) listJobs() []*jobs.Job {
	e.t.Helper()
	list, err := e.m.List(context.Background(), jobs.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}
