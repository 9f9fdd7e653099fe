package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// recordReads is a memory store that counts the reads of job records.
type recordReads struct {
	*store.Memory
	n     atomic.Int64
	mu    sync.Mutex
	perID map[string]int
}

func (s *recordReads) Load(ctx context.Context, key string) ([]byte, error) {
	if id, ok := strings.CutPrefix(key, "csb/jobs/job/"); ok {
		s.n.Add(1)
		s.mu.Lock()
		s.perID[id]++
		s.mu.Unlock()
	}
	return s.Memory.Load(ctx, key)
}

func (s *recordReads) reset() {
	s.n.Store(0)
	s.mu.Lock()
	s.perID = map[string]int{}
	s.mu.Unlock()
}

// A reaper pass reads only the job records that changed since a pass
// read them, and those whose lease end or warning the clock made due;
// every tenth pass reads them all. What it skips it still counts and
// indexes.
func TestReaperPassReadsOnlyChangedOrDueRecords(t *testing.T) {
	rs := &recordReads{Memory: new(store.Memory), perID: map[string]int{}}
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.Store = rs })
	var ids []string
	for range 5 {
		r := e.create("alice", 1)
		if r.Status != csbmsg.StatusOK {
			t.Fatalf("create: %+v", r)
		}
		ids = append(ids, r.Job.ID)
	}
	pass := func(want int64, what string) jobs.PassStats {
		t.Helper()
		rs.reset()
		st, err := e.m.ReapOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.n.Load(); got != want {
			t.Fatalf("%s: the pass read %d job records, want %d", what, got, want)
		}
		if st.Jobs != 5 {
			t.Fatalf("%s: the pass counted %d jobs, want 5", what, st.Jobs)
		}
		return st
	}
	pass(5, "first pass")
	pass(0, "nothing changed")

	// Another instance renews one lease: that record is read again.
	m2 := e.start(e.cfg)
	if r, err := m2.Update(ctx, "alice", ids[0], jobstest.VMRequest(1, 1), 3*time.Hour); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("renew on the other instance: %+v %v", r, err)
	}
	e.waitJob(m2, "alice", ids[0], func(j *jobs.Job) bool { return j.Op == nil })
	m2.Stop() // its background reads would count
	pass(1, "one record changed elsewhere")
	if rs.perID[ids[0]] != 1 {
		t.Fatalf("the pass after the renewal read %v, want the renewed record", rs.perID)
	}
	if n := e.m.JobCounts()[jobs.StatusSuccess]; n != 5 {
		t.Fatalf("jobs indexed: %d, want 5", n)
	}

	// Every tenth pass reads every record; the passes so far were 3.
	for i := 4; i < 10; i++ {
		pass(0, fmt.Sprintf("pass %d", i))
	}
	pass(5, "the tenth pass")

	// The clock makes the other four leases end: the pass reads those
	// four (and again under each job's lock, to reclaim it), not the
	// renewed one.
	e.clock.Advance(time.Hour + time.Minute)
	rs.reset()
	st, err := e.m.ReapOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Expired != 4 {
		t.Fatalf("leases reclaimed: %d, want 4", st.Expired)
	}
	for _, id := range ids[1:] {
		if rs.perID[id] == 0 {
			t.Fatalf("the pass reclaimed job %s without reading it", id)
		}
	}
	if n := rs.perID[ids[0]]; n != 0 {
		t.Fatalf("the pass read the renewed job's record %d times, want none", n)
	}
}
