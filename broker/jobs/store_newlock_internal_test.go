package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// While this process holds a new job's lock in memory, its own takers of
// the job's lock wait for it as for a storage lock, then take the
// storage lock; a lock announced (hold) is in the storage too.
func TestStoreNewLockExcludesThisProcess(t *testing.T) {
	st := new(store.Memory)
	m, err := New(Config{Store: st, Placer: nopPlacer{}, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	ctx := context.Background()
	l := m.lockNew("job1")
	if _, err := m.lock(ctx, "job1", 20*time.Millisecond); err == nil {
		t.Fatal("took the lock of a job held in memory")
	}
	if err := l.hold(ctx); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := st.Lock(lctx, lockPrefix+"job1"); err == nil {
		t.Fatal("an announced new job's storage lock is free")
	}
	cancel()
	got := make(chan error, 1)
	go func() {
		unlock, err := m.lock(ctx, "job1", 5*time.Second)
		if err == nil {
			unlock()
		}
		got <- err
	}()
	l.unlock()
	if err := <-got; err != nil {
		t.Fatalf("the lock once released: %v", err)
	}
}
