package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// secJobsOwnerKey is the owner index key of a job, as the manager writes
// it (csb/jobs/owner/<sha256(owner)>/<id>).
func secJobsOwnerKey(owner, id string) string {
	s := sha256.Sum256([]byte(owner))
	return "csb/jobs/owner/" + hex.EncodeToString(s[:]) + "/" + id
}

// secJobsFaultyStore wraps a store: it counts every operation, and while
// broken it refuses writes from the failFrom-th write on (a full volume)
// and, with failDeletes, deletes too.
type secJobsFaultyStore struct {
	inner       store.Store
	mu          sync.Mutex
	writes      int
	failFrom    int // 0: healthy
	failDeletes bool
	ops         map[string]int // "load", "store", "delete", "list", "lock", "unlock"
	loaded      []string       // keys loaded, in order
}

var errSecJobsDiskFull = errors.New("no space left on device")

func (s *secJobsFaultyStore) count(op string) {
	if s.ops == nil {
		s.ops = map[string]int{}
	}
	s.ops[op]++
}

// breakFrom makes the n-th write from now on and every later one fail.
func (s *secJobsFaultyStore) breakFrom(n int, deletes bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes, s.failFrom, s.failDeletes = 0, n, deletes
}

func (s *secJobsFaultyStore) heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFrom, s.failDeletes = 0, false
}

// snapshot returns the operation counts and loaded keys so far and
// resets them.
func (s *secJobsFaultyStore) snapshot() (map[string]int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops, loaded := s.ops, s.loaded
	s.ops, s.loaded = nil, nil
	return ops, loaded
}

func (s *secJobsFaultyStore) Load(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	s.count("load")
	s.loaded = append(s.loaded, key)
	s.mu.Unlock()
	return s.inner.Load(ctx, key)
}

func (s *secJobsFaultyStore) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	s.count("store")
	s.writes++
	fail := s.failFrom > 0 && s.writes >= s.failFrom
	s.mu.Unlock()
	if fail {
		return &fs.PathError{Op: "write", Path: key, Err: errSecJobsDiskFull}
	}
	return s.inner.Store(ctx, key, value)
}

func (s *secJobsFaultyStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.count("delete")
	fail := s.failDeletes
	s.mu.Unlock()
	if fail {
		return &fs.PathError{Op: "remove", Path: key, Err: errSecJobsDiskFull}
	}
	return s.inner.Delete(ctx, key)
}

func (s *secJobsFaultyStore) List(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	s.count("list")
	s.mu.Unlock()
	return s.inner.List(ctx, prefix)
}

func (s *secJobsFaultyStore) Lock(ctx context.Context, name string) error {
	s.mu.Lock()
	s.count("lock")
	s.mu.Unlock()
	return s.inner.Lock(ctx, name)
}

func (s *secJobsFaultyStore) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	s.count("unlock")
	s.mu.Unlock()
	return s.inner.Unlock(ctx, name)
}

// newSecJobsEnv is newEnv with the store wrapped in a secJobsFaultyStore.
func newSecJobsEnv(t *testing.T, providers []string, tweak func(*jobs.Config)) (*env, *secJobsFaultyStore) {
	t.Helper()
	var fst *secJobsFaultyStore
	e := newEnv(t, providers, func(c *jobs.Config) {
		fst = &secJobsFaultyStore{inner: c.Store}
		c.Store = fst
		if tweak != nil {
			tweak(c)
		}
	})
	return e, fst
}

// secJobsSettle stops the env's manager (waiting for its work), starts a
// new one on the same store, as a restarted broker, and runs reaper passes
// until no stored job has an operation in progress (the resumed ones
// finish in the background); then it restarts once more, so that reads
// come from the store.
func secJobsSettle(t *testing.T, e *env) {
	t.Helper()
	e.m.Stop()
	e.m = e.start(e.cfg)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := e.m.ReapOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, j := range e.listJobs() {
			if j.Op != nil || j.Status.InFlight() {
				busy = true
			}
		}
		if !busy {
			// A worker may still be between its last store write and
			// its bookkeeping: wait for it, and read on with a fresh
			// manager.
			e.m.Stop()
			e.m = e.start(e.cfg)
			return
		}
		select {
		case <-e.signal:
		case <-tick.C: // a worker that finished without a write
		case <-deadline.C:
			t.Fatalf("jobs never settled: %+v", e.listJobs())
		}
	}
}

// secJobsLive counts the resources every provider holds.
func secJobsLive(e *env) int {
	n := 0
	for _, a := range e.ads {
		n += len(a.Live())
	}
	return n
}

func (s *secJobsFaultyStore) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
