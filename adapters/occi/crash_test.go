package occi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// crashRequest asks for compute and storage: Provision creates the
// storage first, so a crash while the compute is being created leaves the
// storage at the provider.
func crashRequest() csbmsg.ServiceRequest {
	return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Cores: p(uint64(1)), Memory: p(uint64(2))},
		Storage: &csbmsg.Storage{Size: p(uint64(10))},
	}}
}

// A broker killed after the OCCI server created a job's storage, while it
// created the compute: the Resource Provision would have returned is never
// recorded. Find, with nothing but the job's request, gathers the storage
// by its title, reports the half-made job failed, and its removal leaves
// nothing at the fixture.
func TestFindAfterCrashBetweenStorageAndCompute(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	before, storages := srv.Inventory(), srv.Count(occi.KindStorage)
	// The compute is never created: the broker died while asking.
	srv.FailNext("POST", "/compute/", 503, 1)
	req := &contract.Request{JobID: "job-crash-1", Want: crashRequest()}
	_, _ = newAdapter(t, srv, nil).Provision(context.Background(), req) // its answer is lost with the broker
	if srv.Count(occi.KindStorage) != storages+1 || srv.Inventory() != before+1 {
		t.Fatalf("the crash should leave exactly the storage: inventory %d, was %d", srv.Inventory(), before)
	}

	a := newAdapter(t, srv, nil) // the next broker
	res, err := a.Find(context.Background(), req)
	if err != nil || res == nil {
		t.Fatalf("find: %+v, %v", res, err)
	}
	if res.Native["storage"] == "" || res.Native["compute"] != "" || res.State != contract.StateFailed {
		t.Fatalf("find after the crash: state %s, native %v (want the storage alone, failed)", res.State, res.Native)
	}
	if _, _, attrs, ok := srv.Entity(res.Native["storage"]); !ok || attrs["occi.core.title"] != req.JobID {
		t.Fatalf("found %s, which is not the job's storage (%v)", res.Native["storage"], attrs)
	}
	if err := a.Remove(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if got := srv.Inventory(); got != before {
		t.Fatalf("fixture holds %d entities after reconciliation, %d before the job", got, before)
	}
	if again, err := a.Find(context.Background(), req); err != nil || again != nil {
		t.Fatalf("find after the removal: %+v, %v (want nothing)", again, err)
	}
}

// frozenStore is a store that a simulated SIGKILL freezes: from then on
// writes are dropped, as a dead process writes nothing more.
type frozenStore struct {
	inner  store.Memory
	mu     sync.Mutex
	frozen bool
}

func (s *frozenStore) setFrozen(v bool) { s.mu.Lock(); s.frozen = v; s.mu.Unlock() }

func (s *frozenStore) isFrozen() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.frozen }

func (s *frozenStore) Load(ctx context.Context, key string) ([]byte, error) {
	return s.inner.Load(ctx, key)
}

func (s *frozenStore) Store(ctx context.Context, key string, value []byte) error {
	if s.isFrozen() {
		return nil
	}
	return s.inner.Store(ctx, key, value)
}

func (s *frozenStore) Delete(ctx context.Context, key string) error {
	if s.isFrozen() {
		return nil
	}
	return s.inner.Delete(ctx, key)
}

func (s *frozenStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.inner.List(ctx, prefix)
}

func (s *frozenStore) Lock(ctx context.Context, name string) error { return s.inner.Lock(ctx, name) }

func (s *frozenStore) Unlock(ctx context.Context, name string) error {
	return s.inner.Unlock(ctx, name)
}

// dying is the adapter of a broker that is killed as Provision returns:
// the store takes no more writes, and the broker does nothing more (the
// call does not return until the broker is stopped).
type dying struct {
	contract.Adapter
	st   *frozenStore
	dead chan struct{} // closed when the broker is killed
}

func (d *dying) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	_, _ = d.Adapter.Provision(ctx, req)
	d.st.setFrozen(true)
	close(d.dead)
	<-ctx.Done()
	return nil, ctx.Err()
}

// The same crash through the job manager: the first broker dies once the
// provider has created the storage and not the compute, having recorded
// only that the attempt started; the next broker, on the same store, reconciles the attempt
// with Find and removes the storage, so no orphan remains at the
// provider whatever becomes of the job.
func TestJobManagerReconcilesCrashThroughFind(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	before := srv.Inventory()
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "occi"})
	cat.AddService("occi", csbmsg.Service{ID: "vm", IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Cores: p(uint64(4)), Memory: p(uint64(8))},
		Storage: &csbmsg.Storage{Size: p(uint64(100))},
	}})
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"occi"}})
	if err != nil {
		t.Fatal(err)
	}
	st := new(frozenStore)
	changed := make(chan struct{}, 1)
	start := func(ad contract.Adapter) *jobs.Manager {
		m, err := jobs.New(jobs.Config{
			Store:  st,
			Placer: placer,
			Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) {
				return ad, id == "occi"
			},
			Logger:         zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
			RespondWithin:  time.Millisecond,
			AttemptTimeout: 10 * time.Second,
			PollInterval:   time.Millisecond,
			ReapInterval:   time.Hour,
			OnChange: func(*jobs.Job) {
				select {
				case changed <- struct{}{}:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Stop)
		return m
	}

	srv.FailNext("POST", "/compute/", 503, 1)
	killed := &dying{Adapter: newAdapter(t, srv, nil), st: st, dead: make(chan struct{})}
	m1 := start(killed)
	want := crashRequest()
	r, err := m1.Create(context.Background(), "alice", &want, jobs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-killed.dead
	m1.Stop()
	if srv.Inventory() != before+1 {
		t.Fatalf("the crash should leave the storage: inventory %d, was %d", srv.Inventory(), before)
	}
	j, err := start(newAdapter(t, srv, nil)).Get(context.Background(), "alice", r.Job.ID)
	if err != nil || len(j.Attempts) != 1 || j.Attempts[0].Resource != nil {
		t.Fatalf("recorded before the crash: %+v, %v (want one attempt without a resource)", j, err)
	}

	st.setFrozen(false)
	m2 := start(newAdapter(t, srv, nil))
	m2.Start()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		j, err = m2.Get(context.Background(), "alice", r.Job.ID)
		if err == nil && j.Status != jobs.StatusPending && j.Status != jobs.StatusProvisioning {
			break
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("job never settled: %+v", j)
		}
	}
	a0 := j.Attempts[0]
	if a0.Resource == nil || a0.Resource.Native["storage"] == "" || a0.Cleanup != "removed" {
		t.Fatalf("the interrupted attempt was not reconciled through Find: %+v", a0)
	}
	held := srv.Inventory() - before
	switch {
	case j.Status == jobs.StatusSuccess && j.Resource != nil:
		// Provisioned again: the fixture holds that job's compute,
		// storage and storagelink, and nothing else.
		if held != 3 || j.Resource.Native["storage"] == a0.Resource.Native["storage"] {
			t.Fatalf("after a retry the fixture holds %d new entities, want the new job's 3", held)
		}
	case held != 0:
		t.Fatalf("job %s, and the fixture still holds %d entities the crash left", j.Status, held)
	}
}
