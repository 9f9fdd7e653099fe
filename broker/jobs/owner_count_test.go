package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// sessionStore numbers its lock sessions as a store whose locks pass
// from taker to taker (store.SessionLocker): every taking continues
// session, until the test starts another. It counts the key counts.
type sessionStore struct {
	innerStore
	session atomic.Uint64
	counted atomic.Int32
}

func (s *sessionStore) LockSession(ctx context.Context, name string) (uint64, error) {
	return s.session.Load(), s.Lock(ctx, name)
}

func (s *sessionStore) Count(ctx context.Context, prefix string) (int, error) {
	s.counted.Add(1)
	keys, err := s.List(ctx, prefix)
	return len(keys), err
}

// Under max_jobs_per_owner, a consumer's index keys are counted in the
// store once per session of its job-count lock; the creates that follow
// in the session go on from that count. A count at the limit is taken
// again before a create is refused, so keys deleted meanwhile (a purge
// takes no lock) are seen; a new session counts again.
func TestOwnerKeysCountedOncePerLockSession(t *testing.T) {
	var ss *sessionStore
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		ss = &sessionStore{innerStore: c.Store}
		ss.session.Store(1)
		c.Store = ss
		c.MaxJobsPerOwner = 3
	})
	create := func() *jobs.Result {
		t.Helper()
		r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 3 {
		if r := create(); r.Status != csbmsg.StatusOK {
			t.Fatalf("create %d: %+v", i, r)
		}
	}
	if n := ss.counted.Load(); n != 1 {
		t.Fatalf("three creates in one session counted the keys %d times, want 1", n)
	}
	// At the limit: counted again, and refused.
	if r := create(); r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "job limit reached") {
		t.Fatalf("create at the limit: %+v", r)
	}
	if n := ss.counted.Load(); n != 2 {
		t.Fatalf("a refusal did not count again: %d counts", n)
	}
	// A key deleted behind the session's back (another broker's purge):
	// the count at the limit is taken again, and the create goes through.
	keys, err := ss.List(context.Background(), "csb/jobs/owner/")
	if err != nil || len(keys) != 3 {
		t.Fatalf("owner keys %v %v", keys, err)
	}
	if err := ss.Delete(context.Background(), keys[0]); err != nil {
		t.Fatal(err)
	}
	if r := create(); r.Status != csbmsg.StatusOK {
		t.Fatalf("create after a key was deleted: %+v", r)
	}
	// A new session counts in the store.
	ss.session.Store(2)
	before := ss.counted.Load()
	if r := create(); r.Status != csbmsg.StatusUnableToFindResource {
		t.Fatalf("create at the limit in a new session: %+v", r)
	}
	if ss.counted.Load() == before {
		t.Fatal("a new session used the previous session's count")
	}
}

var _ store.SessionLocker = (*sessionStore)(nil)

type innerStore = store.Store
