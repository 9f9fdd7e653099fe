package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// lazyStore is a store whose index entries wait for the next Store to be
// durable (store.LazyMarker); it logs its writes, in order.
type lazyStore struct {
	innerStore
	mu  sync.Mutex
	ops []string
}

func (s *lazyStore) log(op string) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
}

func (s *lazyStore) MarkLazy(ctx context.Context, key string) error {
	s.log("marklazy " + key)
	return s.innerStore.Store(ctx, key, nil)
}

func (s *lazyStore) Store(ctx context.Context, key string, value []byte) error {
	s.log("store " + key)
	return s.innerStore.Store(ctx, key, value)
}

// provisionLog logs the calls to a provider into the store's log.
type provisionLog struct {
	contract.Adapter
	s *lazyStore
}

func (a provisionLog) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	a.s.log("provision")
	return a.Adapter.Provision(ctx, req)
}

// A create's owner index key is made without a sync of its own: a
// write through Store (which makes it durable) follows it before the
// provider is called, with the job log and without it.
func TestOwnerKeyDurableBeforeTheProviderIsCalled(t *testing.T) {
	for _, gc := range []bool{false, true} {
		var ls *lazyStore
		e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
			ls = &lazyStore{innerStore: c.Store}
			c.Store = ls
			c.GroupCommit = gc
			inner := c.Adapter
			c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
				a, ok := inner(id, k)
				if !ok {
					return nil, false
				}
				return provisionLog{Adapter: a, s: ls}, true
			}
		})
		r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
		if err != nil || r.Status != csbmsg.StatusOK {
			t.Fatalf("group commit %v: create: %+v %v", gc, r, err)
		}
		ls.mu.Lock()
		ops := append([]string(nil), ls.ops...)
		ls.mu.Unlock()
		mark, stored, called := -1, -1, -1
		for i, op := range ops {
			switch {
			case strings.HasPrefix(op, "marklazy csb/jobs/owner/") && strings.HasSuffix(op, "/"+r.Job.ID):
				mark = i
			case strings.HasPrefix(op, "store ") && mark >= 0 && stored < 0:
				stored = i
			case op == "provision" && called < 0:
				called = i
			}
		}
		if mark < 0 || stored < 0 || called < 0 || !(mark < stored && stored < called) {
			t.Fatalf("group commit %v: the owner key (op %d), a Store after it (op %d) and the provider call (op %d) are out of order: %q",
				gc, mark, stored, called, ops)
		}
		if _, err := e.m.Get(context.Background(), "alice", r.Job.ID); err != nil {
			t.Fatalf("group commit %v: the owner cannot read its job: %v", gc, err)
		}
	}
}

var _ store.LazyMarker = (*lazyStore)(nil)
