package caddymodule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// pollingStorage is Caddy's file storage with the lock behaviour of its
// Lock: a taker that finds the lock held looks again only after a poll
// interval (a second in certmagic), not when it is released. It counts
// the takers that found a lock held, and the locks taken.
type pollingStorage struct {
	*certmagic.FileStorage
	mu        sync.Mutex
	held      map[string]bool
	contended atomic.Int32
	taken     atomic.Int32
}

func (p *pollingStorage) Lock(ctx context.Context, name string) error {
	p.taken.Add(1)
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
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *pollingStorage) Unlock(_ context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.held, name)
	return nil
}

// The takers of one storage lock in a broker (concurrent creates of one
// consumer all take its job-count lock) queue in memory: none polls the
// storage for a lock this process holds, each has it alone, and the
// storage's lock passes from one to the next without being released in
// between (taken once for the whole run, free after it).
func TestStoreLockTakersQueueInMemory(t *testing.T) {
	ps := &pollingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, held: map[string]bool{}}
	// Two stores over the storage: a configuration and its successor.
	s1, s2 := newCaddyStore(ps), newCaddyStore(ps)
	ctx := context.Background()
	const name, n = "csb-jobs-owner-test", 16
	if err := s1.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		inside atomic.Int32
		errs   = make(chan error, n)
	)
	for i := range n - 1 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Lock(ctx, name); err != nil {
				errs <- err
				return
			}
			if inside.Add(1) != 1 {
				errs <- errTwoHolders
			}
			inside.Add(-1)
			errs <- s.Unlock(ctx, name)
		}()
	}
	// Hold the lock until the others wait for it, in memory or polling.
	deadline := time.Now().Add(10 * time.Second)
	for lockQueue.Waiting(s1.lockNS+name) < n-1 && ps.contended.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s1.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := ps.contended.Load(); c != 0 {
		t.Fatalf("%d takers found the lock held by this process and polled the storage", c)
	}
	if w := lockQueue.Waiting(s1.lockNS + name); w != 0 {
		t.Fatalf("%d takers left waiting", w)
	}
	if n := ps.taken.Load(); n != 1 {
		t.Fatalf("the storage's lock was taken %d times for one run of takers", n)
	}
	ps.mu.Lock()
	held := ps.held[name]
	ps.mu.Unlock()
	if held {
		t.Fatal("the storage's lock is still held after the last taker")
	}
}

var errTwoHolders = errors.New("two takers held the lock at once")

// A lock passed from taker to taker still held keeps its session; taken
// again from the storage, it starts a new one.
func TestStoreLockSessions(t *testing.T) {
	ps := &pollingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, held: map[string]bool{}}
	s := newCaddyStore(ps)
	ctx := context.Background()
	const name = "csb-jobs-owner-sessions"
	first, err := s.LockSession(ctx, name)
	if err != nil || first == 0 {
		t.Fatalf("session %d %v", first, err)
	}
	next := make(chan uint64, 1)
	go func() {
		n, err := s.LockSession(ctx, name)
		if err != nil {
			t.Error(err)
		}
		next <- n
	}()
	deadline := time.Now().Add(10 * time.Second)
	for lockQueue.Waiting(s.lockNS+name) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if n := <-next; n != first {
		t.Fatalf("handed over: session %d, want %d", n, first)
	}
	if err := s.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	again, err := s.LockSession(ctx, name)
	if err != nil || again == first || again == 0 {
		t.Fatalf("taken again from the storage: session %d %v (first %d)", again, err, first)
	}
	_ = s.Unlock(ctx, name)
	if n := ps.taken.Load(); n != 2 {
		t.Fatalf("the storage's lock was taken %d times, want 2", n)
	}
}

// Locks of the same name in two storages are two locks: a taker of one
// does not wait for the other's holder, and never gets the other's
// storage lock handed over.
func TestStoreLocksOfTwoStoragesAreTwo(t *testing.T) {
	a := &pollingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, held: map[string]bool{}}
	b := &pollingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, held: map[string]bool{}}
	sa, sb := newCaddyStore(a), newCaddyStore(b)
	const name = "csb-jobs-reaper"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sa.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := sb.Lock(ctx, name); err != nil {
		t.Fatalf("the other storage's lock: %v", err)
	}
	if a.taken.Load() != 1 || b.taken.Load() != 1 || a.contended.Load()+b.contended.Load() != 0 {
		t.Fatalf("taken %d and %d, contended %d and %d; want each taken once from its own storage",
			a.taken.Load(), b.taken.Load(), a.contended.Load(), b.contended.Load())
	}
	_ = sb.Unlock(ctx, name)
	_ = sa.Unlock(ctx, name)
	if a.held[name] || b.held[name] {
		t.Fatal("a storage's lock is still held")
	}
}
