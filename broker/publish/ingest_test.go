package publish

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func u64(v uint64) *uint64 { return &v }

func iaas(id string) csbmsg.Service {
	return csbmsg.Service{ID: id, Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(4)}}}
}

func notif(id string, seq uint64, provider string, ids ...string) *csbmsg.Notification {
	n := &csbmsg.Notification{ID: id, SeqNumber: seq, Provider: csbmsg.Provider{ID: provider, Status: csbmsg.ServiceActive}}
	for _, s := range ids {
		n.Services = append(n.Services, iaas(s))
	}
	return n
}

// fakeSubs is a SubscriptionLookup with fixed ids.
type fakeSubs map[string]string

func (f fakeSubs) SubscriptionProvider(id, _ string) (string, bool) {
	p, ok := f[id]
	return p, ok
}

type gapRecorder struct {
	mu   sync.Mutex
	gaps []string
}

func (g *gapRecorder) record(pid, id string) {
	g.mu.Lock()
	g.gaps = append(g.gaps, pid+"/"+id)
	g.mu.Unlock()
}

func newIngest(t *testing.T, fc *clock.Fake) (*Ingester, *catalog.Catalog, *gapRecorder) {
	t.Helper()
	cat, err := catalog.New(catalog.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	g := new(gapRecorder)
	ing := NewIngester(IngestOptions{Catalog: cat, Clock: fc, OnGap: g.record,
		Subscriptions: fakeSubs{"sub-a": "a", "sub-b": "b"}})
	err = ing.Configure(true, map[string]Policy{
		"a": {Publishers: []string{"alice"}},
		"b": {Publishers: []string{"bob"}},
		"c": {Publishers: []string{AnyPublisher}, PushIDs: []string{"push-c"}, PushExpires: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ing, cat, g
}

func placeable(cat *catalog.Catalog) string {
	var out []string
	for _, e := range cat.Placeable(catalog.KindIaaS) {
		out = append(out, e.ProviderID+"/"+e.Service.ID)
	}
	return strings.Join(out, ",")
}

func TestSequencing(t *testing.T) {
	fc := clock.NewFake(t0)
	ing, cat, gaps := newIngest(t, fc)
	steps := []struct {
		n       *csbmsg.Notification
		outcome Outcome
		status  csbmsg.Status
		place   string
	}{
		{notif("sub-a", 1, "a", "x", "y"), OutcomeApplied, 200, "a/x,a/y"},
		{notif("sub-a", 2, "a", "z"), OutcomeApplied, 200, "a/x,a/y,a/z"},
		{notif("sub-a", 2, "a", "w"), OutcomeDuplicate, 200, "a/x,a/y,a/z"}, // not applied twice
		{notif("sub-a", 1, "a", "v"), OutcomeOld, 200, "a/x,a/y,a/z"},       // ignored
		{notif("sub-a", 5, "a", "q"), OutcomeGap, 200, "a/q,a/x,a/y,a/z"},   // applied, resync
		{notif("sub-a", 6, "a", "x", "q"), OutcomeApplied, 200, "a/q,a/x"},  // several services: full
	}
	for i, s := range steps {
		r := ing.Ingest(s.n, "alice")
		if r.Outcome != s.outcome || r.Response.Status != s.status {
			t.Fatalf("step %d: got %s %d %q, want %s %d", i, r.Outcome, r.Response.Status, r.Response.Reason, s.outcome, s.status)
		}
		if got := placeable(cat); got != s.place {
			t.Fatalf("step %d: placeable %s, want %s", i, got, s.place)
		}
	}
	if len(gaps.gaps) != 1 || gaps.gaps[0] != "a/sub-a" {
		t.Fatalf("gaps %v", gaps.gaps)
	}
}

func TestFirstNotificationAboveOneIsAGap(t *testing.T) {
	ing, _, gaps := newIngest(t, clock.NewFake(t0))
	r := ing.Ingest(notif("sub-a", 3, "a", "x"), "alice")
	if r.Outcome != OutcomeGap || !strings.Contains(r.Response.Reason, "1 to 2 missing") {
		t.Fatalf("%+v", r)
	}
	if len(gaps.gaps) != 1 {
		t.Fatal("no resynchronisation")
	}
}

func TestResyncMakesNextNotificationFull(t *testing.T) {
	ing, cat, _ := newIngest(t, clock.NewFake(t0))
	ing.Ingest(notif("sub-a", 1, "a", "x", "y"), "alice")
	ing.ExpectFull("sub-a")
	r := ing.Ingest(notif("sub-a", 2, "a", "y"), "alice")
	if !r.Full || placeable(cat) != "a/y" {
		t.Fatalf("full=%v placeable=%s", r.Full, placeable(cat))
	}
	r = ing.Ingest(notif("sub-a", 3, "a", "z"), "alice")
	if r.Full || placeable(cat) != "a/y,a/z" {
		t.Fatal("only the first notification after a resync is full")
	}
}

func TestStrictModeNeverWithdraws(t *testing.T) {
	ing, cat, _ := newIngest(t, clock.NewFake(t0))
	_ = ing.Configure(false, map[string]Policy{"a": {Publishers: []string{"alice"}}})
	ing.Ingest(notif("sub-a", 1, "a", "x"), "alice")
	ing.Ingest(notif("sub-a", 2, "a", "y"), "alice")
	ing.ExpectFull("sub-a")
	ing.Ingest(notif("sub-a", 3, "a", "z"), "alice")
	if placeable(cat) != "a/x,a/y,a/z" {
		t.Fatalf("strict mode withdrew: %s", placeable(cat))
	}
}

func TestWhoMayNotify(t *testing.T) {
	ing, cat, _ := newIngest(t, clock.NewFake(t0))
	cases := []struct {
		name   string
		n      *csbmsg.Notification
		user   string
		status csbmsg.Status
	}{
		{"unknown id", notif("nope", 1, "a", "x"), "alice", csbmsg.StatusNoSuchSubscription},
		{"publisher describes another provider", notif("sub-a", 1, "b", "x"), "alice", csbmsg.StatusCannotUpdate},
		{"subscription of another provider", notif("sub-a", 1, "b", "x"), "bob", csbmsg.StatusCannotUpdate},
		{"unauthenticated", notif("sub-a", 1, "a", "x"), "", csbmsg.StatusCannotUpdate},
		{"unconfigured provider", notif("sub-a", 1, "zz", "x"), "alice", csbmsg.StatusCannotUpdate},
		{"push id of another provider", notif("push-c", 1, "a", "x"), "alice", csbmsg.StatusCannotUpdate},
		{"seqnumber zero", notif("sub-a", 0, "a", "x"), "alice", csbmsg.StatusSyntaxError},
	}
	for _, c := range cases {
		r := ing.Ingest(c.n, c.user)
		if r.Response.Status != c.status || r.Response.Reason == "" {
			t.Errorf("%s: got %d %q, want %d", c.name, r.Response.Status, r.Response.Reason, c.status)
		}
	}
	if v := cat.Version(); v != 0 || placeable(cat) != "" {
		t.Fatalf("a refusal changed the catalogue (version %d)", v)
	}
	// A refused notification does not consume the sequence.
	if r := ing.Ingest(notif("sub-a", 1, "a", "x"), "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
}

func TestPushIDs(t *testing.T) {
	fc := clock.NewFake(t0)
	ing, cat, gaps := newIngest(t, fc)
	if r := ing.Ingest(notif("push-c", 1, "c", "p1"), ""); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	if r := ing.Ingest(notif("push-c", 3, "c", "p2"), ""); r.Outcome != OutcomeGap || strings.Contains(r.Response.Reason, "resynchronising") {
		t.Fatalf("push gap: %+v", r)
	}
	if len(gaps.gaps) != 0 {
		t.Fatal("a push id cannot be resynchronised")
	}
	// The provider restarted: its sequence begins again at 1, as full state.
	if r := ing.Ingest(notif("push-c", 1, "c", "p3"), ""); r.Outcome != OutcomeRestart || !r.Full {
		t.Fatalf("restart: %+v", r)
	}
	if placeable(cat) != "c/p3" {
		t.Fatalf("placeable %s", placeable(cat))
	}
	// Push entries expire PushExpires after the last notification.
	fc.Advance(time.Minute)
	if placeable(cat) != "" {
		t.Fatal("push entry outlived its expiry")
	}
	if err := ing.Configure(true, map[string]Policy{"a": {PushIDs: []string{"x"}}, "b": {PushIDs: []string{"x"}}}); err == nil {
		t.Fatal("a push id shared by two providers was accepted")
	}
}

func TestSequenceSurvivesThroughCatalogue(t *testing.T) {
	// A new Ingester (a restart) continues from the catalogue's record.
	fc := clock.NewFake(t0)
	ing, cat, _ := newIngest(t, fc)
	ing.Ingest(notif("sub-a", 1, "a", "x"), "alice")
	ing.Ingest(notif("sub-a", 2, "a", "x"), "alice")
	ing2 := NewIngester(IngestOptions{Catalog: cat, Clock: fc, Subscriptions: fakeSubs{"sub-a": "a"}})
	_ = ing2.Configure(true, map[string]Policy{"a": {Publishers: []string{"alice"}}})
	if r := ing2.Ingest(notif("sub-a", 2, "a", "x"), "alice"); r.Outcome != OutcomeDuplicate {
		t.Fatalf("%+v", r)
	}
	if r := ing2.Ingest(notif("sub-a", 3, "a", "x"), "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
}

func TestConcurrentIngestAppliesEachSeqOnce(t *testing.T) {
	ing, _, _ := newIngest(t, clock.NewFake(t0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[Outcome]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= 50; seq++ {
				r := ing.Ingest(notif("sub-a", seq, "a", "x"), "alice")
				mu.Lock()
				counts[r.Outcome]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts[OutcomeApplied]+counts[OutcomeGap] > 50 {
		t.Fatalf("a seqnumber was applied twice: %v", counts)
	}
}
