package catalog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func u64(v uint64) *uint64 { return &v }
func str(v string) *string { return &v }

func iaas(id string, cores uint64) csbmsg.Service {
	return csbmsg.Service{ID: id, Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Architecture: str("x86"), Cores: u64(cores), Memory: u64(16)},
	}}
}

func paas(id, rel string) csbmsg.Service {
	return csbmsg.Service{ID: id, Status: csbmsg.ServiceActive, PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: rel}}}
}

func notif(sub string, seq uint64, provider string, svcs ...csbmsg.Service) *csbmsg.Notification {
	return &csbmsg.Notification{ID: sub, SeqNumber: seq,
		Provider: csbmsg.Provider{ID: provider, Status: csbmsg.ServiceActive}, Services: svcs}
}

func newCat(t testing.TB, opt Options) *Catalog {
	t.Helper()
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func ids(l []ServiceEntry) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.ProviderID+"/"+e.Service.ID)
	}
	return out
}

func eq(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPlaceableOrderAndKinds(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	if err := c.Configure([]ProviderConfig{{ID: "zeta"}, {ID: "alpha"}}); err != nil {
		t.Fatal(err)
	}
	c.ApplyNotification(notif("s1", 1, "alpha", iaas("b", 4), iaas("a", 8), paas("p", "wf")), true)
	c.ApplyNotification(notif("s2", 1, "zeta", iaas("z", 2)), true)
	c.ApplyNotification(notif("s3", 1, "unconfigured", iaas("u", 2)), true)
	eq(t, ids(c.Placeable(KindIaaS)), []string{"zeta/z", "alpha/a", "alpha/b", "unconfigured/u"})
	eq(t, ids(c.Placeable(KindPaaS)), []string{"alpha/p"})
	eq(t, ids(c.Placeable(KindSaaS)), nil)
	if c.Placeable("nonsense") != nil {
		t.Fatal("unknown kind must give nil")
	}
	e, ok := c.Provider("alpha")
	if !ok || e.Source != SourcePublished || e.SubscriptionID != "s1" {
		t.Fatalf("provider entry %+v %v", e, ok)
	}
}

func TestStatusRulesKeepEntriesVisible(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1), iaas("b", 1)), true)
	v0 := c.Version()

	n := notif("s", 2, "p", iaas("a", 1), iaas("b", 1))
	n.Services[1].Status = csbmsg.ServiceDeactivated
	c.ApplyNotification(n, true)
	if c.Version() == v0 {
		t.Fatal("a status change must bump the version")
	}
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/a"})
	if len(c.Services("p")) != 2 {
		t.Fatal("a deactivated service must stay visible")
	}

	n = notif("s", 3, "p", iaas("a", 1), iaas("b", 1))
	n.Provider.Status = csbmsg.ServiceUnavailable
	c.ApplyNotification(n, true)
	eq(t, ids(c.Placeable(KindIaaS)), nil)
	e, _ := c.Provider("p")
	if e.Status != csbmsg.ServiceUnavailable || len(c.Services("p")) != 2 {
		t.Fatalf("unavailable provider must stay visible with its status: %+v", e)
	}
}

func TestFullNotificationWithdraws(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1), iaas("b", 1), iaas("c", 1)), true)
	r := c.ApplyNotification(notif("s", 2, "p", iaas("c", 2)), false)
	if len(r.Updated) != 1 || len(r.Withdrawn) != 0 {
		t.Fatalf("incremental: %+v", r)
	}
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/a", "p/b", "p/c"})
	r = c.ApplyNotification(notif("s", 3, "p", iaas("a", 1), iaas("c", 2)), true)
	eq(t, r.Withdrawn, []string{"b"})
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/a", "p/c"})
	if len(c.Services("p")) != 2 {
		t.Fatal("a withdrawn service leaves the catalogue")
	}
}

func TestUnchangedNotificationKeepsVersion(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	var calls atomic.Int32
	c.Subscribe(func() { calls.Add(1) })
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	v, n := c.Version(), calls.Load()
	r := c.ApplyNotification(notif("s", 2, "p", iaas("a", 1)), true)
	if r.Changed() || c.Version() != v || calls.Load() != n {
		t.Fatalf("an identical notification must not change placement: %+v", r)
	}
	if seq, pid, ok := c.Sequence("s"); !ok || seq != 2 || pid != "p" {
		t.Fatalf("sequence = %d %q %v", seq, pid, ok)
	}
}

func TestLeaseExpiry(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc})
	changed := make(chan struct{}, 16)
	c.Subscribe(func() { changed <- struct{}{} })
	c.Start()
	c.SetLease("s", t0.Add(time.Minute))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	<-changed
	if got := c.Placeable(KindIaaS); len(got) != 1 || !got[0].Expires.Equal(t0.Add(time.Minute)) {
		t.Fatalf("placeable %+v", got)
	}
	// Renewal moves the expiry of what was published.
	c.SetLease("s", t0.Add(2*time.Minute))
	<-changed
	fc.Advance(90 * time.Second)
	if len(c.Placeable(KindIaaS)) != 1 {
		t.Fatal("renewed entry expired early")
	}
	v := c.Version()
	// The expiry loop is waiting for the expiry; let it fire.
	if !fc.WaitTimers(1, 5*time.Second) {
		t.Fatal("expiry loop not waiting")
	}
	fc.Advance(31 * time.Second)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("subscribers were not told about the expiry")
	}
	if c.Version() <= v {
		t.Fatal("expiry must bump the version")
	}
	if len(c.Placeable(KindIaaS)) != 0 {
		t.Fatal("expired entry still placeable")
	}
	if s := c.Services("p"); len(s) != 1 {
		t.Fatal("expired entry must stay visible until the retention ends")
	}
}

func TestExpiryWithoutLoop(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc})
	c.SetLease("s", t0.Add(time.Minute))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	v := c.Version()
	fc.Advance(time.Minute)
	if len(c.Placeable(KindIaaS)) != 0 || c.Version() == v {
		t.Fatal("readers must see an expiry even before the loop runs")
	}
}

func TestRetentionDropsExpired(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc, Retention: time.Hour})
	c.SetLease("s", t0.Add(time.Minute))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	fc.Advance(30 * time.Minute)
	c.collect()
	if len(c.Services("p")) != 1 {
		t.Fatal("dropped before the retention")
	}
	fc.Advance(time.Hour)
	c.collect()
	if len(c.Services("p")) != 0 {
		t.Fatal("kept after the retention")
	}
}

func TestStaticEntries(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc})
	st := &StaticProvider{Services: []csbmsg.Service{iaas("fixed", 8)}}
	if err := c.Configure([]ProviderConfig{{ID: "p", Static: st}, {ID: "q"}}); err != nil {
		t.Fatal(err)
	}
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/fixed"})
	e, ok := c.Provider("q")
	if !ok || e.Source != SourceStatic || e.Status != csbmsg.ServiceActive {
		t.Fatalf("configured provider entry %+v", e)
	}
	// Published entries do not replace static ones.
	c.SetLease("s", t0.Add(time.Minute))
	r := c.ApplyNotification(notif("s", 1, "p", iaas("fixed", 1), iaas("pub", 1)), true)
	eq(t, r.Shadowed, []string{"fixed"})
	fc.Advance(2 * time.Minute)
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/fixed"})
	// A reload that drops the declaration and the provider q.
	if err := c.Configure([]ProviderConfig{{ID: "p"}}); err != nil {
		t.Fatal(err)
	}
	eq(t, ids(c.Placeable(KindIaaS)), nil)
	if _, ok := c.Provider("q"); ok {
		t.Fatal("unconfigured provider kept")
	}
	if len(c.Services("p")) != 1 {
		t.Fatal("published entry must survive a reload")
	}
}

func TestConfigureErrors(t *testing.T) {
	c := newCat(t, Options{})
	for _, cfg := range [][]ProviderConfig{
		{{ID: ""}},
		{{ID: "a"}, {ID: "a"}},
		{{ID: "a", Static: &StaticProvider{Services: []csbmsg.Service{{ID: "x"}}}}},
		{{ID: "a", Static: &StaticProvider{Services: []csbmsg.Service{iaas("x", 1), iaas("x", 2)}}}},
		{{ID: "a", Static: &StaticProvider{Services: []csbmsg.Service{{Status: "active", SaaS: &csbmsg.SaaS{}}}}}},
	} {
		if err := c.Configure(cfg); err == nil {
			t.Errorf("Configure(%+v) accepted", cfg)
		}
	}
}

func TestDiscovered(t *testing.T) {
	fc := clock.NewFake(t0)
	c := newCat(t, Options{Clock: fc})
	_ = c.Configure([]ProviderConfig{{ID: "p", Static: &StaticProvider{Services: []csbmsg.Service{iaas("s", 1)}}}})
	r := c.SetDiscovered("p", []csbmsg.Service{iaas("d1", 1), iaas("d2", 1), iaas("s", 9)}, time.Time{})
	eq(t, r.Added, []string{"d1", "d2"})
	eq(t, r.Shadowed, []string{"s"})
	r = c.SetDiscovered("p", []csbmsg.Service{iaas("d2", 1)}, time.Time{})
	eq(t, r.Withdrawn, []string{"d1"})
	eq(t, ids(c.Placeable(KindIaaS)), []string{"p/d2", "p/s"})
}

func TestCacheServesCurrentView(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	if len(c.Services("p")) != 1 {
		t.Fatal("first read")
	}
	c.cache.Wait()
	if v, ok := c.cache.Get("p"); !ok || v.key != "p" {
		t.Fatal("view not cached")
	}
	c.ApplyNotification(notif("s", 2, "p", iaas("a", 1), iaas("b", 1)), false)
	if len(c.Services("p")) != 2 {
		t.Fatal("stale view served after a change")
	}
	c.cache.Wait()
	if e, _ := c.Provider("p"); e.SubscriptionID != "s" {
		t.Fatal("provider view")
	}
	if _, ok := c.Provider("nobody"); ok {
		t.Fatal("unknown provider found")
	}
}

func TestWarmStartKeepsExpiryAndSequence(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	c := newCat(t, Options{Clock: fc, Store: st})
	_ = c.Configure([]ProviderConfig{{ID: "p", Static: &StaticProvider{Services: []csbmsg.Service{iaas("static", 1)}}}})
	c.SetLease("s", t0.Add(10*time.Minute))
	c.ApplyNotification(notif("s", 7, "p", iaas("a", 1), paas("b", "x")), true)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.List(context.Background(), DefaultKeyPrefix)
	eq(t, keys, []string{"csb/catalog/p"})

	fc.Advance(4 * time.Minute) // the broker was down for 4 minutes
	c2 := newCat(t, Options{Clock: fc, Store: st})
	np, ns, err := c2.Load(context.Background())
	if err != nil || np != 1 || ns != 2 {
		t.Fatalf("load: %d %d %v", np, ns, err)
	}
	_ = c2.Configure([]ProviderConfig{{ID: "p", Static: &StaticProvider{Services: []csbmsg.Service{iaas("static", 1)}}}})
	eq(t, ids(c2.Placeable(KindIaaS)), []string{"p/a", "p/static"})
	if seq, _, ok := c2.Sequence("s"); !ok || seq != 7 {
		t.Fatalf("sequence after restart: %d %v", seq, ok)
	}
	if x, _ := c2.Lease("s"); !x.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("lease after restart: %v", x)
	}
	fc.Advance(6 * time.Minute) // the remaining expiry
	eq(t, ids(c2.Placeable(KindIaaS)), []string{"p/static"})
}

func TestClusterConverges(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	ctx := context.Background()
	a := newCat(t, Options{Clock: fc, Store: st})
	b := newCat(t, Options{Clock: fc, Store: st})
	for _, c := range []*Catalog{a, b} {
		_ = c.Configure([]ProviderConfig{{ID: "p"}})
	}
	a.SetLease("s", t0.Add(time.Hour))
	a.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a"})
	if seq, _, _ := b.Sequence("s"); seq != 1 {
		t.Fatalf("b's sequence %d", seq)
	}
	// b receives the next notification; a catches up.
	fc.Advance(time.Second)
	b.ApplyNotification(notif("s", 2, "p", iaas("a", 1), iaas("b", 1)), true)
	_ = b.Flush(ctx)
	_ = a.Sync(ctx)
	eq(t, ids(a.Placeable(KindIaaS)), []string{"p/a", "p/b"})
	// a renews the lease; b learns the later expiry.
	a.SetLease("s", t0.Add(2*time.Hour))
	_ = a.Flush(ctx)
	_ = b.Sync(ctx)
	if x, _ := b.Lease("s"); !x.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("lease not merged: %v", x)
	}
	// An older record written late does not win; it is repaired.
	old := newCat(t, Options{Clock: fc, Store: st})
	_ = old.Configure([]ProviderConfig{{ID: "p"}})
	old.ApplyNotification(notif("s", 1, "p", iaas("stale", 1)), true)
	_ = old.Flush(ctx)
	_ = a.Sync(ctx)
	eq(t, ids(a.Placeable(KindIaaS)), []string{"p/a", "p/b"})
	_ = a.Flush(ctx) // the repair
	_ = b.Sync(ctx)
	eq(t, ids(b.Placeable(KindIaaS)), []string{"p/a", "p/b"})
	// Brokers do not adopt providers they are not configured for.
	a2 := newCat(t, Options{Clock: fc, Store: st})
	_ = a2.Configure([]ProviderConfig{{ID: "other"}})
	_ = a2.Sync(ctx)
	if _, ok := a2.Provider("p"); ok {
		t.Fatal("adopted an unconfigured provider")
	}
}

func TestBackgroundWriteBehind(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	c := newCat(t, Options{Clock: fc, Store: st, SyncInterval: -1})
	c.Start()
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	// The writer waits FlushDelay before writing the journal.
	if !fc.WaitTimers(3, 5*time.Second) { // expiry loop, compaction loop, flush delay
		t.Fatal("writer not waiting")
	}
	fc.Advance(DefaultFlushDelay)
	waitFor(t, "journal file written", func() bool {
		keys, _ := st.List(context.Background(), "csb/catalog-journal/")
		return len(keys) == 1
	})
	// A broker restarting now finds the change in the journal.
	c2 := newCat(t, Options{Clock: fc, Store: st})
	if np, ns, err := c2.Load(context.Background()); np != 1 || ns != 1 || err != nil {
		t.Fatalf("load from the journal: %d %d %v", np, ns, err)
	}
	// The compaction loop folds it into the provider's record.
	fc.Advance(DefaultCompactInterval)
	waitFor(t, "journal compacted into the record", func() bool {
		keys, _ := st.List(context.Background(), "csb/catalog-journal/")
		_, err := st.Load(context.Background(), "csb/catalog/p")
		return len(keys) == 0 && err == nil
	})
}

// waitFor polls cond (background goroutines working on real time) until
// it holds or 5 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProviderRemovalDeletesRecord(t *testing.T) {
	st := new(store.Memory)
	c := newCat(t, Options{Clock: clock.NewFake(t0), Store: st})
	_ = c.Configure([]ProviderConfig{{ID: "p"}})
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	_ = c.Flush(context.Background())
	if err := c.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.List(context.Background(), DefaultKeyPrefix); len(keys) != 1 {
		t.Fatalf("record not written: %v", keys)
	}
	_ = c.Configure(nil)
	_ = c.Flush(context.Background())
	if err := c.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.List(context.Background(), ""); len(keys) != 0 {
		t.Fatalf("record or journal kept: %v", keys)
	}
}
