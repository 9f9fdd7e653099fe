package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// writeCountStore counts the job record writes and job lock takes that
// reach the store.
type writeCountStore struct {
	inner         store.Store
	mu            sync.Mutex
	writes, locks int
}

func (s *writeCountStore) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, "csb/jobs/job/") {
		s.mu.Lock()
		s.writes++
		s.mu.Unlock()
	}
	return s.inner.Store(ctx, key, value)
}

func (s *writeCountStore) Lock(ctx context.Context, name string) error {
	if strings.HasPrefix(name, "csb-jobs-") && name != "csb-jobs-checker" {
		s.mu.Lock()
		s.locks++
		s.mu.Unlock()
	}
	return s.inner.Lock(ctx, name)
}

func (s *writeCountStore) Load(ctx context.Context, key string) ([]byte, error) {
	return s.inner.Load(ctx, key)
}

func (s *writeCountStore) Delete(ctx context.Context, key string) error {
	return s.inner.Delete(ctx, key)
}

func (s *writeCountStore) Unlock(ctx context.Context, name string) error {
	return s.inner.Unlock(ctx, name)
}

func (s *writeCountStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.inner.List(ctx, prefix)
}

func (s *writeCountStore) counts() (writes, locks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, s.locks
}

// TestCheckPassWritesNothingForPresentResources: a pass that finds every
// resource there takes no job lock and writes no job record (with
// 100,000 jobs, one durable write each kept a core busy).
func TestCheckPassWritesNothingForPresentResources(t *testing.T) {
	var cs *writeCountStore
	e := newLifeEnv(t, func(c *jobs.Config) {
		c.CheckInterval = 10 * time.Minute
		cs = &writeCountStore{inner: c.Store}
		c.Store = cs
	})
	e.m.Stop()
	e.m = e.start(e.cfg)
	for range 5 {
		lifeJob(t, e)
	}
	e.clock.Advance(10 * time.Minute)
	w0, l0 := cs.counts()
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 5 || st.Gone != 0 {
		t.Fatalf("check pass: %+v %v, want 5 checked", st, err)
	}
	if w, l := cs.counts(); w != w0 || l != l0 {
		t.Fatalf("the pass wrote %d job records and took %d job locks; want none", w-w0, l-l0)
	}
}

// TestCheckPassConfirmsForReads: a job the last pass confirmed is fresh
// for reads (they start no check of their own) until twice the interval
// after that pass, though its record was not written.
func TestCheckPassConfirmsForReads(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	e.clock.Advance(25 * time.Minute)
	if !e.m.StaleForRead(j) {
		t.Fatal("a job unchecked for 25m (interval 10m) is not stale for reads")
	}
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 {
		t.Fatalf("check pass: %+v %v", st, err)
	}
	e.clock.Advance(15 * time.Minute)
	got, err := e.m.Get(context.Background(), "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.m.StaleForRead(got) {
		t.Fatal("a read 15m after the pass that confirmed the job would start a check")
	}
	e.clock.Advance(5 * time.Minute)
	if !e.m.StaleForRead(got) {
		t.Fatal("a read 20m after the pass would start no check")
	}
}

// TestCheckPassUnconfirmedStayDue: a job whose provider could not answer
// is not confirmed by the pass: reads and the next pass ask again.
func TestCheckPassUnconfirmedStayDue(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	e.clock.Advance(25 * time.Minute)
	e.ads["a"].SetFault(jobstest.Fault{Status: errors.New("connection refused")})
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 || st.Gone != 0 {
		t.Fatalf("check pass: %+v %v", st, err)
	}
	if !e.m.StaleForRead(j) {
		t.Fatal("a job whose provider could not answer counts as confirmed")
	}
	e.ads["a"].SetFault(jobstest.Fault{})
	e.clock.Advance(time.Minute)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 {
		t.Fatalf("second pass: %+v %v, want the unconfirmed job checked again", st, err)
	}
	if e.m.StaleForRead(j) {
		t.Fatal("a job the second pass confirmed is stale")
	}
}

// TestCheckMarkSharedByTheCluster: another instance's pass right after
// asks no provider again: the mark is stored with the jobs.
func TestCheckMarkSharedByTheCluster(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	for range 3 {
		lifeJob(t, e)
	}
	e.clock.Advance(10 * time.Minute)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 3 {
		t.Fatalf("first instance: %+v %v", st, err)
	}
	other := e.start(e.cfg)
	before := e.ads["a"].Calls("status")
	if st, err := other.CheckOnce(context.Background()); err != nil || st.Checked != 0 {
		t.Fatalf("second instance: %+v %v, want nothing checked", st, err)
	}
	if n := e.ads["a"].Calls("status") - before; n != 0 {
		t.Fatalf("second instance asked the provider %d times", n)
	}
}

// TestCheckMarkAdoptedWhileAnotherInstanceChecks: an instance whose pass
// finds the checker lock held still adopts the cluster's mark, so its
// reads start no check of a job the other instance confirmed.
func TestCheckMarkAdoptedWhileAnotherInstanceChecks(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	e.clock.Advance(25 * time.Minute)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Checked != 1 {
		t.Fatalf("first instance: %+v %v", st, err)
	}
	other := e.start(e.cfg)
	ctx := context.Background()
	if err := e.store.Lock(ctx, "csb-jobs-checker"); err != nil {
		t.Fatal(err)
	}
	defer e.store.Unlock(ctx, "csb-jobs-checker")
	if st, err := other.CheckOnce(ctx); err != nil || st.Checked != 0 {
		t.Fatalf("second instance with the checker lock held: %+v %v", st, err)
	}
	e.clock.Advance(15 * time.Minute)
	if other.StaleForRead(j) {
		t.Fatal("the second instance did not adopt the mark of the first's pass")
	}
}
