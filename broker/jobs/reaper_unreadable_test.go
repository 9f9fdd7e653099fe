package jobs_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// failJobLoads is a memory store (with its versions) whose reads of
// chosen keys fail, as a storage with a flaky volume or network would.
type failJobLoads struct {
	*store.Memory
	mu   sync.Mutex
	fail map[string]bool
}

var errIO = errors.New("input/output error")

func (s *failJobLoads) failKey(key string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = map[string]bool{}
	}
	s.fail[key] = on
}

func (s *failJobLoads) Load(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	fail := s.fail[key]
	s.mu.Unlock()
	if fail {
		return nil, &fs.PathError{Op: "read", Path: key, Err: errIO}
	}
	return s.Memory.Load(ctx, key)
}

// TestReapPassKeepsLoadOfUnreadableJob: a reaper pass that cannot
// read one live job's record (a storage error, not a missing record)
// keeps that job's weight on its provider. The recount replaced the
// figures with what the pass read, so one failed read made the provider
// look a job lighter until the next pass, and placement could put work
// past its capacity meanwhile.
func TestReapPassKeepsLoadOfUnreadableJob(t *testing.T) {
	fs := &failJobLoads{Memory: new(store.Memory)}
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.Store = fs })
	var ids []string
	for range 2 {
		r := e.create("alice", 2)
		if r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v", r)
		}
		ids = append(ids, r.Job.ID)
	}
	if l := e.m.Load("a"); l.Jobs != 2 || l.Cores != 4 {
		t.Fatalf("load before the pass: %+v, want 2 jobs, 4 cores", l)
	}
	fs.failKey("csb/jobs/job/"+ids[0], true)
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if l := e.m.Load("a"); l.Jobs != 2 || l.Cores != 4 {
		t.Fatalf("load after a pass that could not read one job: %+v, want 2 jobs, 4 cores", l)
	}
	// Once readable, the next pass counts it from its record.
	fs.failKey("csb/jobs/job/"+ids[0], false)
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if l := e.m.Load("a"); l.Jobs != 2 || l.Cores != 4 {
		t.Fatalf("load after the record is readable again: %+v, want 2 jobs, 4 cores", l)
	}
}

// TestCreateAfterStopLeavesNoInstanceLock: a create that reaches
// the manager after Stop (a request still in flight while Caddy stops or
// reloads the module) does not take the instance lock again once Stop
// released it: nothing would release it then, and while it is held (on
// Caddy's file storage, a lock file kept fresh as long as the process
// lives) every peer takes the stopped instance for alive.
func TestCreateAfterStopLeavesNoInstanceLock(t *testing.T) {
	e, _ := storeLockEnv(t, nil)
	if r := e.create("alice", 1); r.Status != csbmsg.StatusOK {
		t.Fatalf("create: %+v", r)
	}
	name := "csb-jobs-instance-" + e.m.Instance()
	e.m.Stop()
	if storeLockBusy(t, e.store, name) {
		t.Fatal("the instance lock is held after Stop")
	}
	if _, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{}); err != nil {
		t.Logf("create after Stop: %v", err)
	}
	if storeLockBusy(t, e.store, name) {
		t.Fatal("a create after Stop left the stopped instance's lock held")
	}
}
