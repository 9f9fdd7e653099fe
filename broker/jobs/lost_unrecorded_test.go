package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// fullAfter is a store whose writes fail once full is set (a volume
// that filled up); deletes still work, as unlinking does on a full disk.
type fullAfter struct {
	*store.Memory
	full atomic.Bool
}

func (s *fullAfter) Store(ctx context.Context, key string, value []byte) error {
	if s.full.Load() {
		return errors.New("file too large")
	}
	return s.Memory.Store(ctx, key, value)
}

// fillsStorage is a test adapter whose Provision fills the storage as it
// returns (the storage fills up while the create is at the provider).
type fillsStorage struct {
	*jobstest.Adapter
	s *fullAfter
}

func (a fillsStorage) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	defer a.s.full.Store(true)
	return a.Adapter.Provision(ctx, req)
}

// TestLostCreateUnrecordedIsDropped: the storage fills up while a create
// is at its first provider, whose answer is lost (it hands back a handle
// on the job, which the cleanup's Remove takes). The job's progress
// cannot be recorded, so the create is answered as not recorded, with no
// job, and nothing is left in the storage. The lost handle's later
// rechecks kept the job instead, answered "accepted, still pending", and
// the reaper provisioned it at the next provider once storage worked
// again.
func TestLostCreateUnrecordedIsDropped(t *testing.T) {
	var s *fullAfter
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		s = &fullAfter{Memory: c.Store.(*store.Memory)}
		c.Store = s
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if ok && id == "a" {
				return fillsStorage{ad.(*jobstest.Adapter), s}, true
			}
			return ad, ok
		}
	})
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("connection reset"), Partial: true, Late: true})
	r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil && !errors.Is(err, jobs.ErrNotRecorded) {
		t.Fatal(err)
	}
	if r == nil || r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, "could not record") {
		t.Fatalf("answer %+v, want 408 not recorded, without a job", r)
	}
	s.full.Store(false)
	if keys, _ := s.List(context.Background(), "csb/jobs/job/"); len(keys) != 0 {
		t.Fatalf("job records left: %v", keys)
	}
	if n := e.ads["b"].Calls("provision"); n != 0 {
		t.Fatalf("b got %d creates", n)
	}
}
