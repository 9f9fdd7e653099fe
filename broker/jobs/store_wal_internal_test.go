package jobs

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// A deferred write the job's worker holds while an announce settles the
// job (the worker saw the job logged just before the announce read the
// record to settle) is not dropped with the settled record: the next
// settle writes it to the job's file.
func TestStoreWALHoldDuringSettleIsKept(t *testing.T) {
	st := new(store.Memory)
	m, err := New(Config{Store: st, Placer: nopPlacer{}, GroupCommit: true, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	ctx := context.Background()
	w := m.wal
	const id = "heldjob000000000000001"
	w.start(id)
	w.hold(id, 1, []byte(`{"rev":1}`))
	// The announce's settle read rev 1 and wrote it; before it released
	// the job, the worker held rev 2.
	if err := w.store(ctx, id, 1, []byte(`{"rev":1}`)); err != nil {
		t.Fatal(err)
	}
	w.hold(id, 2, []byte(`{"rev":2}`))
	w.release(id, false, 1)
	// The worker's settle once its work is done.
	if err := w.settle(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx, jobKey(id))
	if err != nil || string(got) != `{"rev":2}` {
		t.Fatalf("job file %q %v, want the record held during the settle", got, err)
	}
}
