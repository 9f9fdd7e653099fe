package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// twoBrokers returns the clock and two catalogues sharing a store (no
// background sync), both configured with providers.
func twoBrokers(t *testing.T, providers ...string) (*clock.Fake, *Catalog, *Catalog) {
	t.Helper()
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	var cfg []ProviderConfig
	for _, id := range providers {
		cfg = append(cfg, ProviderConfig{ID: id})
	}
	a := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	b := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	for _, c := range []*Catalog{a, b} {
		_ = c.Configure(cfg)
	}
	return fc, a, b
}

// writeRecords makes c's changes provider records in the store (the
// journal flushed, then compacted).
func writeRecords(t *testing.T, c *Catalog) {
	t.Helper()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSyncDecodesOnlyChangedRecords: a Sync decodes the provider records
// whose bytes changed since it merged them, and still merges what
// changed.
func TestSyncDecodesOnlyChangedRecords(t *testing.T) {
	fc, a, b := twoBrokers(t, "p", "q", "r")
	ctx := context.Background()
	for i, id := range []string{"p", "q", "r"} {
		a.SetLease("s-"+id, t0.Add(time.Hour))
		a.ApplyNotification(notif("s-"+id, 1, id, iaas("a", uint64(i+1))), true)
	}
	writeRecords(t, a)
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
	writeRecords(t, a)
	if n := sync(); n != 1 {
		t.Fatalf("a sync after one provider changed decoded %d records, want 1", n)
	}
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a", "q/a", "q/b", "r/a"})
}

// TestSyncAfterConfigureReadsAgain: a provider removed from the
// configuration and added back gets its stored record merged again.
func TestSyncAfterConfigureReadsAgain(t *testing.T) {
	_, a, b := twoBrokers(t, "p")
	ctx := context.Background()
	a.SetLease("s", t0.Add(time.Hour))
	a.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	writeRecords(t, a)
	_ = b.Sync(ctx)
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a"})
	_ = b.Configure(nil)
	_ = b.Configure([]ProviderConfig{{ID: "p"}})
	eq(t, ids(b.Placeable(KindIaaS)), nil)
	_ = b.Sync(ctx)
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a"})
}
