package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestMergedDiscoveryDoesNotReplacePublished: published beats
// discovered (SetDiscovered leaves a published id alone, and so does
// compaction's mergeRecords) also when the discovery comes from another
// broker's record: a broker that discovered a service before it learnt
// that the provider publishes the same id must not make the brokers that
// merge its record drop the published entry for the discovered one.
func TestMergedDiscoveryDoesNotReplacePublished(t *testing.T) {
	fc, a, b := twoBrokers(t, "p")
	ctx := context.Background()
	b.SetLease("s", t0.Add(time.Hour))
	b.ApplyNotification(notif("s", 1, "p", iaas("x", 8)), true)
	fc.Advance(time.Second)
	// a has not synced b's notification yet when its discovery runs.
	a.SetDiscovered("p", []csbmsg.Service{iaas("x", 1), iaas("y", 1)}, t0.Add(time.Hour))
	writeRecords(t, a)
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]ServiceEntry{}
	for _, e := range b.Services("p") {
		got[e.Service.ID] = e
	}
	if e := got["x"]; e.Source != SourcePublished || *e.Service.IaaS.Compute.Cores != 8 {
		t.Errorf("after merging a's discovery, x is %s with %d cores; want the published one (8 cores)",
			e.Source, *e.Service.IaaS.Compute.Cores)
	}
	if e, ok := got["y"]; !ok || e.Source != SourceDiscovered {
		t.Errorf("discovered y not merged: %+v", got)
	}
	// What b holds matches what compaction folds of the two records.
	writeRecords(t, b)
	c := newCat(t, Options{Clock: fc, Store: a.opt.Store, SyncInterval: -1})
	_ = c.Configure([]ProviderConfig{{ID: "p"}})
	if _, _, err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := state(c, "p"), state(b, "p"); got != want {
		t.Errorf("a broker loading the store holds\n%s\nb holds\n%s", got, want)
	}
}

// TestProviderAddedBackKeepsItsRecord: a provider removed from the
// configuration and added back before the next compaction gets its
// stored record merged again (TestSyncAfterConfigureReadsAgain); the
// compaction must then not delete that record, or the broker serves
// entries that a restart, or another broker, no longer finds.
func TestProviderAddedBackKeepsItsRecord(t *testing.T) {
	fc, a, _ := twoBrokers(t, "p")
	ctx := context.Background()
	a.SetLease("s", t0.Add(time.Hour))
	a.ApplyNotification(notif("s", 1, "p", iaas("x", 1)), true)
	writeRecords(t, a)
	_ = a.Configure(nil)
	_ = a.Configure([]ProviderConfig{{ID: "p"}})
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	eq(t, ids(a.Placeable(KindIaaS)), []string{"p/x"})
	writeRecords(t, a)
	c := newCat(t, Options{Clock: fc, Store: a.opt.Store, SyncInterval: -1})
	_ = c.Configure([]ProviderConfig{{ID: "p"}})
	if _, _, err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := state(c, "p"), state(a, "p"); got != want {
		t.Errorf("a broker loading the store holds\n%s\nthe broker that compacted holds\n%s", got, want)
	}
}
