package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// storeLockLog records the names of the storage locks taken.
type storeLockLog struct {
	*store.Memory
	mu    sync.Mutex
	names []string
}

func (s *storeLockLog) Lock(ctx context.Context, name string) error {
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
	return s.Memory.Lock(ctx, name)
}

func (s *storeLockLog) took(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.names {
		if n == name {
			return true
		}
	}
	return false
}

// storeLockEnv is an env with the job log on and its storage locks
// recorded.
func storeLockEnv(t *testing.T, tweak func(*jobs.Config)) (*env, *storeLockLog) {
	t.Helper()
	var ll *storeLockLog
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		ll = &storeLockLog{Memory: c.Store.(*store.Memory)}
		c.Store = ll
		c.GroupCommit = true
		if tweak != nil {
			tweak(c)
		}
	})
	return e, ll
}

// storeLockBusy reports whether storage lock name is held (by anyone).
func storeLockBusy(t *testing.T, s store.Store, name string) bool {
	t.Helper()
	lctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Lock(lctx, name); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		return true
	}
	if err := s.Unlock(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return false
}

// storeKill makes the env's broker look dead to its peers, as when a
// killed process's instance lock goes stale, without stopping it (its
// manager is left as it is).
func storeKill(t *testing.T, e *env) {
	t.Helper()
	if err := e.store.Unlock(context.Background(), "csb-jobs-instance-"+e.m.Instance()); err != nil {
		t.Fatal(err)
	}
}

// A create that finishes before its answer takes no storage lock of its
// job (the lock is held in memory until the job is settled), and leaves
// its job readable and removable by another broker.
func TestStoreNewJobLockedInMemory(t *testing.T) {
	e, ll := storeLockEnv(t, nil)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r, err)
	}
	if ll.took("csb-jobs-" + r.Job.ID) {
		t.Fatal("the create took its job's storage lock")
	}
	if !ll.took("csb-jobs-instance-" + e.m.Instance()) {
		t.Fatal("the create ran without the instance lock")
	}
	peer := e.start(e.cfg)
	if j, err := peer.Get(ctx, "alice", r.Job.ID); err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("the peer's read: %+v %v", j, err)
	}
	if r, err := peer.Remove(ctx, "alice", r.Job.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("the peer's remove: %+v %v", r, err)
	}
}

// A create answered while its job is still in progress holds the job's
// storage lock from that answer on: another broker cannot change the
// job while its creator works on it.
func TestStoreNewJobAnnouncedInProgressHoldsStorageLock(t *testing.T) {
	e, _ := storeLockEnv(t, func(c *jobs.Config) { c.RespondWithin = 20 * time.Millisecond })
	release := make(chan struct{})
	started := make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: release, BlockStarted: started})
	defer close(release)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Job == nil || !r.Job.Status.InFlight() {
		t.Fatalf("create: %+v %v", r, err)
	}
	<-started
	if !storeLockBusy(t, e.store, "csb-jobs-"+r.Job.ID) {
		t.Fatal("a job answered as in progress is not locked in the storage")
	}
}

// Another broker's reaper leaves alone the log of a live broker's create
// in progress (whose lock is in memory): it neither writes the job's file
// from the log nor resumes the create. Once the creator is dead, it does.
func TestStoreWALLiveCreatorsLogNotReplayed(t *testing.T) {
	e, _ := storeLockEnv(t, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: release, BlockStarted: started})
	go func() {
		_, _ = e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	}()
	<-started
	keys, err := e.store.List(ctx, "csb/jobs/owner/")
	if err != nil || len(keys) != 1 {
		t.Fatalf("owner index: %v %v", keys, err)
	}
	id := keys[0][strings.LastIndexByte(keys[0], '/')+1:]
	if len(storeWALKeys(t, e.store)) == 0 {
		t.Fatal("no log file holds the create's write-ahead record")
	}
	peer := e.start(e.cfg)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, "csb/jobs/job/"+id); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("a peer wrote the file of a live broker's job in progress: %v", err)
	}
	storeKill(t, e)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, "csb/jobs/job/"+id); err != nil {
		t.Fatalf("the dead broker's job was not replayed: %v", err)
	}
	close(release)
}
