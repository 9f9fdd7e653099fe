package jobs

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// A deferred write the job's worker holds while an announce settles the
// job (the worker saw the job logged just before the announce read the
// record to settle) is not dropped with the settled record: the next
// settle writes it to the job's file.
func TestStoreWALHoldDuringSettleIsKept(t *testing.T) {
	st, m := walManager(t)
	ctx := context.Background()
	w := m.wal
	const id = "heldjob000000000000001"
	w.start(id)
	w.hold(id, 1, 0, []byte(`{"rev":1}`), nil)
	// The announce's settle read rev 1 and wrote it; before it released
	// the job, the worker held rev 2.
	if err := w.store(ctx, id, 1, []byte(`{"rev":1}`)); err != nil {
		t.Fatal(err)
	}
	w.hold(id, 2, 0, []byte(`{"rev":2}`), nil)
	w.release(id, false, 1)
	// The worker's settle once its work is done.
	if err := w.settle(ctx, id, true, true); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx, jobKey(id))
	if err != nil || string(got) != `{"rev":2}` {
		t.Fatalf("job file %q %v, want the record held during the settle", got, err)
	}
}

// An announce that settles a logged job while a deferred write of it is
// held without its record (holdBehind: the await's answer that the job
// is in progress, between a create's outcome and its worker's catchUp)
// writes the older record the log holds. It used to write it under the
// newer Rev, so that the settle of the record the worker encoded then
// was passed over as written already: the job's file kept the older
// record (the create's outcome lost).
func TestStoreWALBehindSettleKeepsTheNewerRecord(t *testing.T) {
	st, m := walManager(t)
	ctx := context.Background()
	w := m.wal
	const id = "behindjob0000000000001"
	w.start(id)
	w.hold(id, 1, 0, []byte(`{"rev":1}`), nil)
	if !w.holdBehind(id, 2, nil) {
		t.Fatal("the deferred write was not held behind")
	}
	// The await's announce: the log holds rev 1 only.
	if err := w.settle(ctx, id, false, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Load(ctx, jobKey(id)); string(got) != `{"rev":1}` {
		t.Fatalf("job file %q after the announce, want rev 1", got)
	}
	// The worker encodes rev 2 (catchUp) and settles.
	w.hold(id, 2, 0, []byte(`{"rev":2}`), nil)
	if err := w.settle(ctx, id, true, true); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Load(ctx, jobKey(id)); err != nil || string(got) != `{"rev":2}` {
		t.Fatalf("job file %q %v, want the record the worker encoded", got, err)
	}
}

// A reconciliation of the job index that starts while a create's record
// is still only in this process's log (its job file not yet written)
// keeps the job: the admin listing and the jobs-by-state gauge do not
// lose it. A job neither logged nor stored is dropped.
func TestIndexReconcileKeepsLoggedJobs(t *testing.T) {
	_, m := walManager(t)
	ctx := context.Background()
	<-m.IndexReady()
	const logged, purged = "loggedjob0000000000001", "purgedjob0000000000001"
	m.wal.start(logged)
	m.wal.hold(logged, 1, 0, []byte(`{"id":"`+logged+`","rev":1}`), nil)
	now := time.Now()
	m.indexJob(&Job{ID: logged, Owner: "alice", Status: StatusSuccess, Created: now, Rev: 1})
	m.indexJob(&Job{ID: purged, Owner: "bob", Status: StatusSuccess, Created: now, Rev: 1})
	if err := m.refreshIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.JobCounts()[StatusSuccess]; got != 1 {
		t.Fatalf("jobs indexed after the reconciliation: %d, want the logged one only", got)
	}
	p, err := m.ListPage(ctx, PageQuery{Owner: "alice"})
	if err != nil || p.Total != 1 {
		t.Fatalf("alice's page: %+v %v", p, err)
	}
}

// walManager returns a manager with the job log on a new memory store,
// stopped at the test's end.
func walManager(t *testing.T) (*store.Memory, *Manager) {
	t.Helper()
	st := new(store.Memory)
	m, err := New(Config{Store: st, Placer: nopPlacer{}, GroupCommit: true, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return st, m
}

// blockOnce is a memory store whose first Store of key blocks until
// release is closed.
type blockOnce struct {
	*store.Memory
	key     string
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *blockOnce) Store(ctx context.Context, key string, value []byte) error {
	if key == s.key {
		blocked := false
		s.once.Do(func() { blocked = true })
		if blocked {
			close(s.entered)
			<-s.release
		}
	}
	return s.Memory.Store(ctx, key, value)
}

// A job's settles run one at a time in Rev order, and never wait for
// another job's: while one job's file write hangs on the disk, another
// job (one whose id fell in the same stripe of the lock settles used to
// share) settles, and the hung job's later settle waits for it and
// writes last.
func TestSettlesWaitOnlyForTheirOwnJob(t *testing.T) {
	const a = "settlejob0000000000000"
	b := ""
	// The 64 stripes of the lock settles shared before they queued by
	// job id.
	oldStripe := func(id string) uint64 { return maphash.String(stripeSeed, id) % 64 }
	for i := 0; b == ""; i++ {
		if id := fmt.Sprintf("settlejob%013d", i+1); oldStripe(id) == oldStripe(a) {
			b = id
		}
	}
	st := &blockOnce{Memory: new(store.Memory), key: jobKey(a), entered: make(chan struct{}), release: make(chan struct{})}
	m, err := New(Config{Store: st, Placer: nopPlacer{}, GroupCommit: true, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	ctx := context.Background()
	w := m.wal
	first := make(chan error, 1)
	go func() { first <- w.store(ctx, a, 1, []byte(`{"rev":1}`)) }()
	<-st.entered
	second := make(chan error, 1)
	go func() { second <- w.store(ctx, a, 2, []byte(`{"rev":2}`)) }()
	other := make(chan error, 1)
	go func() { other <- w.store(ctx, b, 1, []byte(`{"rev":1}`)) }()
	select {
	case err := <-other:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("another job's settle waited for the hung one")
	}
	close(st.release)
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := st.Load(ctx, jobKey(a)); string(got) != `{"rev":2}` {
		t.Fatalf("job file %q, want rev 2 written last", got)
	}
}

// A settle whose context has ended still writes the job's file, as it
// did when settles waited on a mutex: a create whose request went away
// (a broker stopping, a platform that hung up) must not leave its job
// only in the log while its idempotency key is written (TestOSBRestart
// found a job provisioned twice after a restart).
func TestSettleWritesAfterItsContextEnded(t *testing.T) {
	st, m := walManager(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		id := fmt.Sprintf("endedctx%014d", i)
		if err := m.wal.store(ctx, id, 1, []byte(`{"rev":1}`)); err != nil {
			t.Fatalf("settle %d with an ended context: %v", i, err)
		}
		if _, err := st.Load(context.Background(), jobKey(id)); err != nil {
			t.Fatalf("settle %d with an ended context wrote nothing: %v", i, err)
		}
	}
}
