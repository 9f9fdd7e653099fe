package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

const journalPrefix = "csb/catalog-journal/"

var errCrashed = errors.New("crashed")

// faultStore wraps store.Memory: it counts writes and deletes by key
// prefix, stops applying them once its budget of mutations is spent (a
// crash: nothing after that point reaches storage), and can run a hook
// before each write.
type faultStore struct {
	store.Memory
	budget  atomic.Int64 // mutations still allowed; negative: unlimited
	writes  sync.Map     // key prefix ("record", "journal") → *atomic.Int64
	loads   atomic.Int64
	onStore func(key string)
}

func newFaultStore() *faultStore {
	f := new(faultStore)
	f.budget.Store(-1)
	return f
}

func (f *faultStore) spend() error {
	for {
		b := f.budget.Load()
		if b < 0 {
			return nil
		}
		if b == 0 {
			return errCrashed
		}
		if f.budget.CompareAndSwap(b, b-1) {
			return nil
		}
	}
}

func (f *faultStore) count(kind string) int64 {
	v, ok := f.writes.Load(kind)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func kindOf(key string) string {
	if strings.HasPrefix(key, journalPrefix) {
		return "journal"
	}
	return "record"
}

func (f *faultStore) Store(ctx context.Context, key string, value []byte) error {
	if f.onStore != nil {
		f.onStore(key)
	}
	if err := f.spend(); err != nil {
		return err
	}
	v, _ := f.writes.LoadOrStore(kindOf(key), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	return f.Memory.Store(ctx, key, value)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	if err := f.spend(); err != nil {
		return err
	}
	return f.Memory.Delete(ctx, key)
}

func (f *faultStore) Load(ctx context.Context, key string) ([]byte, error) {
	f.loads.Add(1)
	return f.Memory.Load(ctx, key)
}

func keysUnder(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	keys, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// state is what a catalogue holds of a provider, for comparisons: the
// sequence and the published and discovered services with their expiry.
// It reads the authoritative map.
func state(c *Catalog, pid string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.providers[pid]
	if p == nil {
		return "absent"
	}
	var b strings.Builder
	e := p.entry
	fmt.Fprintf(&b, "%s sub=%s seq=%d status=%s expires=%s:", pid, p.subID, p.seq, e.Status, e.Expires.Format(time.RFC3339))
	for _, id := range p.serviceIDs() {
		s := p.services[id].e
		cores := uint64(0)
		if s.Service.IaaS != nil && s.Service.IaaS.Compute != nil && s.Service.IaaS.Compute.Cores != nil {
			cores = *s.Service.IaaS.Compute.Cores
		}
		fmt.Fprintf(&b, " %s/%s/%d/%s", s.Service.ID, s.Source, cores, s.Expires.Format(time.RFC3339))
	}
	return b.String()
}

// bareCatalog is a catalogue without a read cache or background work,
// enough for merge.
func bareCatalog() *Catalog {
	return &Catalog{
		clock: clock.NewFake(t0), logger: zap.NewNop(), j: newJournal(""),
		providers: map[string]*provider{}, order: map[string]int{}, leases: map[string]time.Time{},
		leaseUse: map[string]string{}, deleted: map[string]bool{}, dirty: map[string]*provider{},
	}
}

func TestFlushWritesOneJournalFile(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	c := newCat(t, Options{Clock: fc, Store: st})
	for i := range 5 {
		c.ApplyNotification(notif(fmt.Sprintf("s%d", i), 1, fmt.Sprintf("p%d", i), iaas("a", 1)), true)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j, r := st.count("journal"), st.count("record"); j != 1 || r != 0 {
		t.Fatalf("a flush of 5 providers wrote %d journal files and %d records; want 1 and 0", j, r)
	}
	// Nothing changed: a second flush writes nothing.
	if err := c.Flush(context.Background()); err != nil || st.count("journal") != 1 {
		t.Fatalf("idle flush wrote: %v %d", err, st.count("journal"))
	}
	// A restart finds all five in the journal.
	c2 := newCat(t, Options{Clock: fc, Store: &st.Memory})
	if np, ns, err := c2.Load(context.Background()); np != 5 || ns != 5 || err != nil {
		t.Fatalf("load: %d providers, %d services, %v", np, ns, err)
	}
	for i := range 5 {
		pid := fmt.Sprintf("p%d", i)
		if got, want := state(c2, pid), state(c, pid); got != want {
			t.Fatalf("after restart\n got %s\nwant %s", got, want)
		}
	}
}

func TestCompactionCoalescesAndDeletesJournal(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st})
	c.SetLease("s", t0.Add(time.Hour))
	for seq := uint64(1); seq <= 10; seq++ {
		c.ApplyNotification(notif("s", seq, "p", iaas("a", seq)), true)
		c.ApplyNotification(notif("t", seq, "q", iaas("b", seq)), true)
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(keysUnder(t, st, journalPrefix)); n != 10 {
		t.Fatalf("%d journal files, want 10", n)
	}
	if err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if r := st.count("record"); r != 2 {
		t.Fatalf("compaction wrote %d records for 2 providers", r)
	}
	if keys := keysUnder(t, st, journalPrefix); len(keys) != 0 {
		t.Fatalf("journal files left: %v", keys)
	}
	eq(t, keysUnder(t, st, DefaultKeyPrefix), []string{"csb/catalog/p", "csb/catalog/q"})
	if pp, pf, _ := c.journalStats(); pp != 0 || pf != 0 {
		t.Fatalf("pending after compaction: %d providers, %d files", pp, pf)
	}
	// Nothing to compact: no store operation at all, not even the lock.
	before := st.count("record")
	if err := c.Compact(ctx); err != nil || st.count("record") != before {
		t.Fatalf("idle compaction: %v", err)
	}
	c2 := newCat(t, Options{Clock: fc, Store: &st.Memory})
	if _, _, err := c2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []string{"p", "q"} {
		if got, want := state(c2, pid), state(c, pid); got != want {
			t.Fatalf("from records\n got %s\nwant %s", got, want)
		}
	}
}

// crashScenario builds, on a fresh store, a catalogue "a" whose
// acknowledged (flushed) state spans a compacted record and several
// journal files, and returns it with the state every restart must find.
func crashScenario(t *testing.T, fc *clock.Fake, st *faultStore) (*Catalog, map[string]string) {
	t.Helper()
	ctx := context.Background()
	a := newCat(t, Options{Clock: fc, Store: st, instanceID: "a"})
	_ = a.Configure([]ProviderConfig{{ID: "p"}, {ID: "q"}, {ID: "r"}})
	a.SetLease("s", t0.Add(time.Hour))
	a.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	a.SetDiscovered("q", []csbmsg.Service{iaas("d", 1)}, time.Time{})
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		fc.Advance(time.Second)
		a.ApplyNotification(notif("s", seq, "p", iaas("a", seq), iaas("b", seq)), true)
		a.ApplyNotification(notif("u", seq, "r", iaas("x", seq)), true)
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.SetLease("s", t0.Add(2*time.Hour))
	a.SetDiscovered("q", []csbmsg.Service{iaas("d", 2), iaas("e", 2)}, time.Time{})
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, pid := range []string{"p", "q", "r"} {
		want[pid] = state(a, pid)
	}
	return a, want
}

func loadAndCheck(t *testing.T, fc *clock.Fake, st store.Store, want map[string]string, instance string) *Catalog {
	t.Helper()
	c := newCat(t, Options{Clock: fc, Store: st, instanceID: instance})
	if _, _, err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for pid, w := range want {
		if got := state(c, pid); got != w {
			t.Fatalf("%s after restart\n got %s\nwant %s", pid, got, w)
		}
	}
	return c
}

// TestCrashAtEveryCompactionStep crashes the broker after each storage
// mutation of a compaction (record writes, journal deletions) and shows
// that a restart still finds everything acknowledged, and that the
// restarted broker's own compaction leaves the records complete and the
// journal empty.
// TestCompactionReleasesJournalJSON: the backlog counts providers with
// journaled, uncompacted records; the services' JSON kept for journal
// records is released by compaction, and a later notification still
// journals the provider's services in full.
func TestCompactionReleasesJournalJSON(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st})
	c.SetLease("s", t0.Add(time.Hour))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1), iaas("b", 2)), true)
	if n := c.JournalBacklog(); n != 0 {
		t.Fatalf("backlog %d before any journal write", n)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cached := func() (n int) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		for _, s := range c.providers["p"].services {
			if s.js.Load() != nil {
				n++
			}
		}
		return n
	}
	if n, js := c.JournalBacklog(), cached(); n != 1 || js != 2 {
		t.Fatalf("after a journal write: backlog %d, %d services with JSON kept, want 1 and 2", n, js)
	}
	if err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n, js := c.JournalBacklog(), cached(); n != 0 || js != 0 {
		t.Fatalf("after compaction: backlog %d, %d services with JSON kept, want 0 and 0", n, js)
	}
	c.ApplyNotification(notif("s", 2, "p", iaas("a", 1), iaas("b", 3)), true)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	// A fresh catalogue built from storage has both services, b changed.
	d := newCat(t, Options{Clock: fc, Store: st})
	if _, _, err := d.Load(ctx); err != nil {
		t.Fatal(err)
	}
	v := d.view("p")
	if v == nil || len(v.Services) != 2 || *v.Services[1].Service.IaaS.Compute.Cores != 3 {
		t.Fatalf("reloaded view %+v", v)
	}
}

func TestCrashAtEveryCompactionStep(t *testing.T) {
	ctx := context.Background()
	// How many mutations does a full compaction make?
	fc := clock.NewFake(t0)
	st := newFaultStore()
	a, _ := crashScenario(t, fc, st)
	st.budget.Store(1000)
	if err := a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	steps := int(1000 - st.budget.Load())
	if steps < 6 { // 3 records, 4 journal files
		t.Fatalf("a compaction made only %d mutations", steps)
	}
	for budget := 0; budget <= steps; budget++ {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			fc := clock.NewFake(t0)
			st := newFaultStore()
			a, want := crashScenario(t, fc, st)
			st.budget.Store(int64(budget))
			err := a.Compact(ctx) // the broker dies during this
			if budget < steps && err == nil {
				// Only journal deletions failed: the records are complete.
				if keys := keysUnder(t, st, journalPrefix); len(keys) == 0 {
					t.Fatal("crash before the last deletion, yet no journal file left")
				}
			}
			// Restart: a new instance on what reached storage.
			b := loadAndCheck(t, fc, &st.Memory, want, "b")
			if err := b.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			if keys := keysUnder(t, st, journalPrefix); len(keys) != 0 {
				t.Fatalf("journal files left after the restarted broker compacted: %v", keys)
			}
			// The records alone now hold everything.
			loadAndCheck(t, fc, &st.Memory, want, "c")
		})
	}
}

// TestCrashBeforeCompaction: journal files written, the broker killed
// before compacting; the next broker loads them, and compacts them
// although they are another instance's.
func TestCrashBeforeCompaction(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	_, want := crashScenario(t, fc, st)
	if n := len(keysUnder(t, st, journalPrefix)); n != 4 {
		t.Fatalf("%d journal files", n)
	}
	b := loadAndCheck(t, fc, &st.Memory, want, "b")
	if _, _, foreign := b.journalStats(); foreign != 4 {
		t.Fatalf("%d foreign journal files to compact, want 4", foreign)
	}
	if err := b.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := keysUnder(t, st, journalPrefix); len(keys) != 0 {
		t.Fatalf("journal left: %v", keys)
	}
	loadAndCheck(t, fc, &st.Memory, want, "c")
}

// TestFailedJournalWriteKeepsChanges: a refused journal write reports
// the error, and the next flush writes the changes.
func TestFailedJournalWriteKeepsChanges(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st})
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	st.budget.Store(0)
	if err := c.Flush(ctx); !errors.Is(err, errCrashed) {
		t.Fatalf("flush: %v", err)
	}
	st.budget.Store(-1)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	loadAndCheck(t, fc, &st.Memory, map[string]string{"p": state(c, "p")}, "b")
}

// TestConcurrentCompactionsDoNotLoseUpdates: two brokers compact changes
// of the same provider (one published, one discovered) at the same time.
// Each merges into the record it reads under the storage lock, so the
// record ends with both.
func TestConcurrentCompactionsDoNotLoseUpdates(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	a := newCat(t, Options{Clock: fc, Store: st, instanceID: "a"})
	b := newCat(t, Options{Clock: fc, Store: st, instanceID: "b"})
	a.ApplyNotification(notif("s", 3, "p", iaas("pub", 3)), true)
	b.SetDiscovered("p", []csbmsg.Service{iaas("disc", 1)}, time.Time{})
	if err := errors.Join(a.Flush(ctx), b.Flush(ctx)); err != nil {
		t.Fatal(err)
	}
	// a stops inside its record write; b's compaction starts meanwhile.
	inA := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	st.onStore = func(key string) {
		if key == "csb/catalog/p" {
			once.Do(func() { close(inA); <-release })
		}
	}
	aDone := make(chan error)
	go func() { aDone <- a.Compact(ctx) }()
	<-inA
	bDone := make(chan error)
	go func() { bDone <- b.Compact(ctx) }()
	// b cannot get past the lock while a holds it.
	lockCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := st.Lock(lockCtx, "csb/catalog-journal/compact")
	cancel()
	if err == nil {
		t.Fatal("the compaction lock was free while a compacted")
	}
	close(release)
	if err := errors.Join(<-aDone, <-bDone); err != nil {
		t.Fatal(err)
	}
	data, err := st.Load(ctx, "csb/catalog/p")
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Services {
		got = append(got, s.Service.ID+"/"+string(s.Source))
	}
	eq(t, got, []string{"disc/discovered", "pub/published"})
	if r.SeqNumber != 3 {
		t.Fatalf("seqnumber %d", r.SeqNumber)
	}
}

// TestDeadInstanceJournalIsCompacted: a running broker merges another
// instance's journal at its next sync (the cluster bound), reads each
// file once, and compacts files that stay around for orphanAge (their
// owner died).
func TestDeadInstanceJournalIsCompacted(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	b := newCat(t, Options{Clock: fc, Store: st, instanceID: "b"})
	if _, _, err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// a writes and dies (it is never closed, so it never compacts).
	a, err := New(Options{Clock: fc, Store: st, instanceID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	a.ApplyNotification(notif("s", 1, "p", iaas("x", 1)), true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := state(b, "p"), state(a, "p"); got != want {
		t.Fatalf("b after sync\n got %s\nwant %s", got, want)
	}
	loads := st.loads.Load()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st.loads.Load() != loads {
		t.Fatal("a journal file already merged was read again")
	}
	if _, _, foreign := b.journalStats(); foreign != 0 {
		t.Fatal("a fresh journal file of a running broker was taken as an orphan")
	}
	fc.Advance(b.orphanAge())
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := keysUnder(t, st, journalPrefix); len(keys) != 0 {
		t.Fatalf("orphan journal left: %v", keys)
	}
	eq(t, keysUnder(t, st, DefaultKeyPrefix), []string{"csb/catalog/p"})
	loadAndCheck(t, fc, &st.Memory, map[string]string{"p": state(a, "p")}, "c")
}

// TestUnreadableJournalFileIsLeftAlone: a journal file that does not
// parse (a storage without atomic writes may show one being written) is
// skipped, logged once, not deleted, and does not stop the others. Once
// it has been there for orphanAge it is removed: a file whose write did
// not complete was never acknowledged.
func TestUnreadableJournalFileIsLeftAlone(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	bad := journalPrefix + "zz.0000000000000001"
	_ = st.Memory.Store(ctx, bad, []byte(`{"instance":"zz","records":[{"prov`))
	a := newCat(t, Options{Clock: fc, Store: st, instanceID: "a"})
	a.ApplyNotification(notif("s", 1, "p", iaas("x", 1)), true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	b := newCat(t, Options{Clock: fc, Store: st, instanceID: "b", Logger: zap.New(core)})
	if _, _, err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := state(b, "p"), state(a, "p"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for range 3 {
		if err := errors.Join(b.Sync(ctx), b.Compact(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, keysUnder(t, st, journalPrefix), []string{bad})
	if n := logs.FilterMessage("unreadable catalogue journal file skipped").Len(); n != 1 {
		t.Fatalf("logged %d times, want once", n)
	}
	fc.Advance(b.orphanAge())
	if err := errors.Join(b.Sync(ctx), b.Compact(ctx)); err != nil {
		t.Fatal(err)
	}
	eq(t, keysUnder(t, st, journalPrefix), nil)
	if logs.FilterMessage("unreadable catalogue journal file removed").Len() != 1 {
		t.Fatal("removal not logged")
	}
}

// TestRemovedProviderIsNotResurrected: a provider removed from the
// configuration while its journal record waits for compaction does not
// get its record back.
func TestRemovedProviderIsNotResurrected(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st})
	_ = c.Configure([]ProviderConfig{{ID: "p"}, {ID: "q"}})
	c.ApplyNotification(notif("s", 1, "p", iaas("x", 1)), true)
	c.ApplyNotification(notif("t", 1, "q", iaas("y", 1)), true)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.Configure([]ProviderConfig{{ID: "q"}})
	if err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	eq(t, keysUnder(t, st, DefaultKeyPrefix), []string{"csb/catalog/q"})
	eq(t, keysUnder(t, st, journalPrefix), nil)
}

// TestJournalPrefixMustNotBeUnderRecords: the records' listing would
// read journal files as records.
func TestJournalPrefixMustNotBeUnderRecords(t *testing.T) {
	if _, err := New(Options{JournalPrefix: "csb/catalog/journal/"}); err == nil {
		t.Fatal("journal prefix under the record prefix accepted")
	}
}

// TestMergeRecordsMatchesCatalogueMerge checks compaction's merge against
// the catalogue's: for random records of one provider, a catalogue that
// merges all of them (in any order) holds what a catalogue that merges
// their mergeRecords fold holds.
func TestMergeRecordsMatchesCatalogueMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	subs := []string{"s1", "s2"}
	for iter := range 500 {
		var recs []*record
		for range 1 + rng.IntN(5) {
			r := &record{Provider: ProviderEntry{ID: "p", Status: csbmsg.ServiceActive}}
			if rng.IntN(4) > 0 {
				// A published part: for one (subscription, seqnumber) the
				// content is the same, as a notification's is.
				// A later subscription's notifications, and a later
				// seqnumber's, are later updates; the same notification
				// is stored again later when its lease moves.
				si := rng.IntN(len(subs))
				sub := subs[si]
				seq := uint64(1 + rng.IntN(4))
				r.Published, r.SeqNumber = true, seq
				r.Provider.Source, r.Provider.SubscriptionID = SourcePublished, sub
				r.UpdatedAt = t0.Add(time.Duration(100*si+10*int(seq)+rng.IntN(5)) * time.Second)
				for k := range seq {
					r.Services = append(r.Services, recordService{Lease: sub, ServiceEntry: ServiceEntry{
						ProviderID: "p", Kind: KindIaaS, Source: SourcePublished, Service: iaas(fmt.Sprintf("%s-%d", sub, k), seq)}})
				}
				r.Leases = map[string]time.Time{sub: t0.Add(time.Duration(rng.IntN(5)) * time.Hour)}
			}
			if rng.IntN(2) == 0 {
				n := rng.IntN(3)
				r.DiscoveredAt = t0.Add(time.Duration(n) * time.Minute)
				for k := range n + 1 {
					r.Services = append(r.Services, recordService{ServiceEntry: ServiceEntry{
						ProviderID: "p", Kind: KindIaaS, Source: SourceDiscovered, Service: iaas(fmt.Sprintf("d-%d", k+n), 99)}})
				}
			}
			slicesSortServices(r.Services)
			recs = append(recs, r)
		}
		var folded *record
		for _, r := range recs {
			folded = mergeRecords(folded, r)
		}
		viaFold := bareCatalog()
		viaFold.mu.Lock()
		viaFold.merge(folded, false)
		viaFold.mu.Unlock()
		for _, order := range [][]int{identity(len(recs)), reversed(len(recs))} {
			direct := bareCatalog()
			direct.mu.Lock()
			for _, i := range order {
				direct.merge(recs[i], false)
			}
			direct.mu.Unlock()
			if got, want := state(viaFold, "p"), state(direct, "p"); got != want {
				js, _ := json.MarshalIndent(recs, "", " ")
				t.Fatalf("iteration %d, order %v:\nfolded %s\ndirect %s\nrecords %s", iter, order, got, want, js)
			}
		}
	}
}

func slicesSortServices(s []recordService) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Service.ID < s[j-1].Service.ID; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func reversed(n int) []int {
	out := identity(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// TestRecordEncoding: appendRecord gives what json.Marshal of the record
// gives (up to the order of the fields), with the services' JSON cached
// on the catalogue entries or not; a copy whose expiry a merge changed
// does not reuse the entry's JSON.
func TestRecordEncoding(t *testing.T) {
	c := bareCatalog()
	c.leases["s"] = t0.Add(time.Hour)
	c.ApplyNotification(notif("s", 1, "p", fullIaaS(1), iaas("b", 2)), true)
	c.SetDiscovered("p", []csbmsg.Service{paas("d", "x")}, t0.Add(time.Minute))
	c.mu.Lock()
	r := c.snapshotRecord(c.providers["p"])
	c.mu.Unlock()
	plain, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	_ = json.Unmarshal(plain, &want)
	for range 2 { // the second time from the cache
		got, err := appendRecord(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		var g any
		if err := json.Unmarshal(got, &g); err != nil || !reflect.DeepEqual(g, want) {
			t.Fatalf("appendRecord differs (%v):\n got %s\nwant %s", err, got, plain)
		}
	}
	if r.Services[0].src.js.Load() == nil {
		t.Fatal("nothing cached")
	}
	m := mergeRecords(r, &record{Provider: r.Provider, Leases: map[string]time.Time{"s": t0.Add(2 * time.Hour)}})
	got, _ := appendRecord(nil, m)
	var back record
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	for _, s := range back.Services {
		if s.Lease == "s" && !s.Expires.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("merged copy encoded with the entry's old expiry %v", s.Expires)
		}
	}
	// A journal file decodes to its records.
	c.j = newJournal("x")
	data, err := c.encodeJournal(7, []*record{r, m})
	if err != nil {
		t.Fatal(err)
	}
	jf, err := parseJournal(data)
	if err != nil || jf.Instance != "x" || jf.Seq != 7 || len(jf.Records) != 2 || len(jf.Records[1].Services) != 3 {
		t.Fatalf("journal %s: %v", data, err)
	}
}

// TestFlushWaitsForExpectedChanges: a flush that starts while a change
// is announced (a notification being parsed) waits for it, so both go
// into one journal file; a change that never comes delays it only up to
// CommitWait.
func TestFlushWaitsForExpectedChanges(t *testing.T) {
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st, CommitWait: time.Hour})
	arrivedB := c.Expect()
	arrivedA := c.Expect()
	c.ApplyNotification(notif("a", 1, "pa", iaas("x", 1)), true)
	arrivedA()
	arrivedA() // idempotent
	flushed := make(chan error)
	go func() { flushed <- c.Flush(ctx) }()
	// b arrives while a's flush waits for it.
	waitFor(t, "the flush waiting for b", func() bool {
		c.gc.mu.Lock()
		defer c.gc.mu.Unlock()
		return c.gc.waiter != nil
	})
	c.ApplyNotification(notif("b", 1, "pb", iaas("y", 1)), true)
	arrivedB()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if n := st.count("journal"); n != 1 {
		t.Fatalf("%d journal files for two notifications, want 1", n)
	}
	data, _ := st.Load(ctx, keysUnder(t, st, journalPrefix)[0])
	jf, err := parseJournal(data)
	if err != nil || len(jf.Records) != 2 {
		t.Fatalf("journal holds %d records (%v), want both", len(jf.Records), err)
	}

	// An announced change that does not come: the flush goes ahead after
	// CommitWait.
	c2 := newCat(t, Options{Clock: fc, Store: st, CommitWait: time.Millisecond})
	never := c2.Expect()
	defer never()
	c2.ApplyNotification(notif("c", 1, "pc", iaas("z", 1)), true)
	if err := c2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDoesNotWaitForTheCompactionLock: another broker holding the
// compaction lock does not hold up a shutdown; the journal it leaves is
// compacted by the next broker.
func TestCloseDoesNotWaitForTheCompactionLock(t *testing.T) {
	defer func(d time.Duration) { closeCompactTimeout = d }(closeCompactTimeout)
	closeCompactTimeout = 10 * time.Millisecond
	fc := clock.NewFake(t0)
	st := newFaultStore()
	ctx := context.Background()
	c, err := New(Options{Clock: fc, Store: st, instanceID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyNotification(notif("s", 1, "p", iaas("x", 1)), true)
	want := state(c, "p")
	if err := st.Lock(ctx, "csb/catalog-journal/compact"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := len(keysUnder(t, st, journalPrefix)); n != 1 {
		t.Fatalf("%d journal files after close, want the flushed one", n)
	}
	_ = st.Unlock(ctx, "csb/catalog-journal/compact")
	b := loadAndCheck(t, fc, &st.Memory, map[string]string{"p": want}, "b")
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	eq(t, keysUnder(t, st, journalPrefix), nil)
}

// TestFlushSpacing: once a journal write carried several notifications
// (they arrive concurrently), the next write starts no sooner than
// CommitSpacing after it, and the notifications made meanwhile share it;
// a provider notifying in sequence (one notification per write) never
// waits for the spacing.
func TestFlushSpacing(t *testing.T) {
	fc := clock.NewFake(t0)
	const spacing = 80 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time
	st := newFaultStore()
	st.onStore = func(key string) {
		if kindOf(key) == "journal" {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
		}
	}
	ctx := context.Background()
	c := newCat(t, Options{Clock: fc, Store: st, CommitWait: -1, CommitSpacing: spacing})
	// Two notifications in one write: concurrent traffic.
	c.ApplyNotification(notif("a", 1, "pa", iaas("x", 1)), true)
	c.ApplyNotification(notif("b", 1, "pb", iaas("y", 1)), true)
	before := time.Now() // the first write starts after this
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The next write waits out the spacing; a third notification made
	// while it waits goes into the same file.
	c.ApplyNotification(notif("a", 2, "pa", iaas("x", 2)), true)
	flushed := make(chan error)
	go func() { flushed <- c.Flush(ctx) }()
	waitFor(t, "the flush leading the next write", func() bool {
		c.gc.mu.Lock()
		defer c.gc.mu.Unlock()
		return c.gc.running != nil
	})
	c.ApplyNotification(notif("b", 2, "pb", iaas("y", 2)), true)
	if err := c.Flush(ctx); err != nil { // covered by the write in flight, or leads the next
		t.Fatal(err)
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(starts)
	mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("%d journal writes", len(got))
	}
	if gap := got[1].Sub(before); gap < spacing {
		t.Fatalf("the second write started %s after the first, want at least %s", gap, spacing)
	}
	if len(got) != 2 {
		t.Fatalf("%d journal writes for two rounds of concurrent notifications, want 2", len(got))
	}

	// In sequence: one notification per write, no spacing, even an hour
	// of it.
	c2 := newCat(t, Options{Clock: fc, Store: newFaultStore(), CommitWait: -1, CommitSpacing: time.Hour})
	done := make(chan error)
	go func() {
		for seq := uint64(1); seq <= 5; seq++ {
			c2.ApplyNotification(notif("s", seq, "ps", iaas("z", seq)), true)
			if err := c2.Flush(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("notifications in sequence waited for the commit spacing")
	}
}

// TestFlushBatch: a leader waiting out the commit spacing (an hour here)
// starts its write as soon as CommitBatch callers wait for it, and that
// one write carries all of them; with fewer callers it keeps waiting.
func TestFlushBatch(t *testing.T) {
	var mu sync.Mutex
	journals := 0
	st := newFaultStore()
	st.onStore = func(key string) {
		if kindOf(key) == "journal" {
			mu.Lock()
			journals++
			mu.Unlock()
		}
	}
	// Cancelled when the test ends, so that a leader still waiting out
	// the hour (a failure) lets the catalogue close.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const batch = 3
	c := newCat(t, Options{Store: st, CommitWait: -1, CommitSpacing: time.Hour, CommitBatch: batch})
	// Two notifications in one write: concurrent traffic, so the next
	// leader waits out the spacing.
	c.ApplyNotification(notif("a", 1, "pa", iaas("x", 1)), true)
	c.ApplyNotification(notif("b", 1, "pb", iaas("y", 1)), true)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	queued := func() int {
		c.gc.mu.Lock()
		defer c.gc.mu.Unlock()
		if c.gc.spaced == nil {
			return 0
		}
		return c.gc.queued
	}
	flushed := make(chan error, batch)
	for i, p := range []string{"a", "b", "c"} {
		c.ApplyNotification(notif(p, 2, "p"+p, iaas(p, 2)), true)
		go func() { flushed <- c.Flush(ctx) }()
		if i < batch-1 {
			// Fewer than CommitBatch: the leader still waits.
			waitFor(t, fmt.Sprintf("%d callers queued", i+1), func() bool { return queued() == i+1 })
		}
	}
	for range batch {
		select {
		case err := <-flushed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d callers waited for the commit spacing, want the write at CommitBatch (%d)", queued(), batch)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if journals != 2 {
		t.Fatalf("%d journal writes, want 2 (the first, then one for the batch)", journals)
	}
}
