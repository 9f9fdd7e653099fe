package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestSyncDecodesOnlyChangedRecords: a Sync decodes the provider records
// whose bytes changed since it merged them, and still merges what
// changed.
func TestSyncDecodesOnlyChangedRecords(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	ctx := context.Background()
	a := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	b := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	cfg := []ProviderConfig{{ID: "p"}, {ID: "q"}, {ID: "r"}}
	for _, c := range []*Catalog{a, b} {
		_ = c.Configure(cfg)
	}
	for i, id := range []string{"p", "q", "r"} {
		a.SetLease("s-"+id, t0.Add(time.Hour))
		a.ApplyNotification(notif("s-"+id, 1, id, iaas("a", uint64(i+1))), true)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	sync := func() int64 {
		t.Helper()
		before := b.decoded.Load()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		return b.decoded.Load() - before
	}
	if n := sync(); n != 3 {
		t.Fatalf("first sync decoded %d records, want 3", n)
	}
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a", "q/a", "r/a"})
	if n := sync(); n != 0 {
		t.Fatalf("a sync with nothing changed decoded %d records", n)
	}
	fc.Advance(time.Second)
	a.ApplyNotification(notif("s-q", 2, "q", iaas("a", 2), iaas("b", 2)), true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sync(); n != 1 {
		t.Fatalf("a sync after one provider changed decoded %d records, want 1", n)
	}
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a", "q/a", "q/b", "r/a"})
}

// TestSyncAfterConfigureReadsAgain: a provider removed from the
// configuration and added back gets its stored record merged again.
func TestSyncAfterConfigureReadsAgain(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	ctx := context.Background()
	a := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	b := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	for _, c := range []*Catalog{a, b} {
		_ = c.Configure([]ProviderConfig{{ID: "p"}})
	}
	a.SetLease("s", t0.Add(time.Hour))
	a.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	_ = b.Sync(ctx)
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a"})
	_ = b.Configure(nil)
	_ = b.Configure([]ProviderConfig{{ID: "p"}})
	eq(t, ids(b.Placeable(KindIaaS)), nil)
	_ = b.Sync(ctx)
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a"})
}
