package jobs_test

import (
	"context"
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

type inner = store.Store

// pollingLocks is a store whose locks behave as Caddy's file storage's
// (certmagic): a taker that finds a lock held checks again only after a
// poll interval (a second there), never when it is released. It counts
// the takers that found a lock held.
type pollingLocks struct {
	inner
	every     time.Duration
	mu        sync.Mutex
	held      map[string]bool
	contended atomic.Int32
	// gate, when set, is called before the first store of an owner
	// index key (under the owner's lock) and returns when it may go on.
	gate func()
	once sync.Once
}

func (p *pollingLocks) Store(ctx context.Context, key string, value []byte) error {
	if p.gate != nil && strings.HasPrefix(key, "csb/jobs/owner/") {
		p.once.Do(p.gate)
	}
	return p.inner.Store(ctx, key, value)
}

func (p *pollingLocks) Lock(ctx context.Context, name string) error {
	for {
		p.mu.Lock()
		if !p.held[name] {
			p.held[name] = true
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		p.contended.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.every):
		}
	}
}

func (p *pollingLocks) Unlock(_ context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.held, name)
	return nil
}

// Concurrent creates of one consumer under the per-owner job limit (on
// by default) take the owner's storage lock in turn without polling the
// storage for it: the takers in one broker queue in memory and each
// takes the storage lock once the one before has released it. With
// Caddy's file storage a taker that finds the lock held sleeps a second
// before it looks again, so every create of a consumer that makes
// several at once waited a second or more.
func TestOwnerCreatesQueueInMemoryForTheStorageLock(t *testing.T) {
	for _, wal := range []bool{false, true} {
		const n = 16
		var (
			locks *pollingLocks
			m     *jobs.Manager
		)
		e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
			locks = &pollingLocks{inner: c.Store, every: 100 * time.Millisecond, held: map[string]bool{}}
			c.Store = locks
			c.MaxJobsPerOwner = 100
			c.LockWait = 10 * time.Second
			c.GroupCommit = wal
		})
		m = e.m
		// The first create holds the owner's lock until every other
		// create waits for it: in memory, or polling the storage.
		countLock := "owner-" + jobs.OwnerHash("alice")
		locks.gate = func() {
			deadline := time.Now().Add(10 * time.Second)
			for locks.contended.Load() == 0 && jobs.LockWaiters(m, countLock) < n-1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		results := make(chan string, n)
		for range n {
			go func() {
				r, err := e.m.Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
				switch {
				case err != nil:
					results <- err.Error()
				case r.Status != csbmsg.StatusOK:
					results <- r.Reason
				default:
					results <- ""
				}
			}()
		}
		var failed []string
		for range n {
			if r := <-results; r != "" {
				failed = append(failed, r)
			}
		}
		if len(failed) > 0 {
			t.Fatalf("group commit %v: %d of %d concurrent creates failed: %s", wal, len(failed), n, strings.Join(failed, "; "))
		}
		if c := locks.contended.Load(); c != 0 {
			t.Fatalf("group commit %v: %d takers of a storage lock found it held by this broker and polled", wal, c)
		}
		e.m.Stop()
	}
}
