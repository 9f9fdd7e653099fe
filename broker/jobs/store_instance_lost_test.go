package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// losingStore is a store whose locks can be lost while held, as Caddy's
// file storage's are (store.LockKeeper): lost names the lock reported
// lost.
type losingStore struct {
	*storeLockLog
	lost atomic.Pointer[string]
}

func (s *losingStore) LockLost(name string) bool {
	p := s.lost.Load()
	return p != nil && *p == name
}

// TestStoreInstanceLockLostIsTakenAgain: a peer broke this broker's
// instance lock as stale (the process was paused past the stale time)
// and released it (its reaper's liveness probe). The next create takes
// the lock again before it relies on it: a peer's reaper then leaves the
// create's log alone. The lost lock was taken for held: the peer found
// it free, took the live broker for dead and replayed the log of the
// create still at work, at every pass, for as long as the process lived.
func TestStoreInstanceLockLostIsTakenAgain(t *testing.T) {
	var ls *losingStore
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		ls = &losingStore{storeLockLog: &storeLockLog{Memory: c.Store.(*store.Memory)}}
		c.Store = ls
		c.GroupCommit = true
	})
	if r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{}); err != nil || r.Job == nil {
		t.Fatalf("first create: %+v %v", r, err)
	}
	instance := "csb-jobs-instance-" + e.m.Instance()
	// Broken as stale, released by the peer's probe, and seen lost.
	if err := ls.Memory.Unlock(context.Background(), instance); err != nil {
		t.Fatal(err)
	}
	ls.lost.Store(&instance)

	release := make(chan struct{})
	started := make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: release, BlockStarted: started})
	defer close(release)
	go func() {
		_, _ = e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	}()
	<-started
	ls.lost.Store(nil) // taken again, or not: the store knows no more
	keys, err := e.store.List(ctx, "csb/jobs/owner/")
	if err != nil || len(keys) != 2 {
		t.Fatalf("owner index: %v %v", keys, err)
	}
	var id string
	for _, k := range keys {
		k = k[strings.LastIndexByte(k, '/')+1:]
		if _, err := e.store.Load(ctx, "csb/jobs/job/"+k); errors.Is(err, store.ErrNotExist) {
			id = k // the create at work, not settled
		}
	}
	if id == "" {
		t.Fatal("no create at work")
	}
	peer := e.start(e.cfg)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, "csb/jobs/job/"+id); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("a peer replayed the log of a live broker's create at work: %v", err)
	}
}
