package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// flakyStore fails every write while broken is set.
type flakyStore struct {
	store.Memory
	broken atomic.Bool
}

func (f *flakyStore) Store(ctx context.Context, key string, value []byte) error {
	if f.broken.Load() {
		return errors.New("disk full")
	}
	return f.Memory.Store(ctx, key, value)
}

// TestAcknowledgedNotificationIsStored shows that an acknowledgement means
// the notification is in the store: the catalogue's write-behind loop is
// not running here, yet a second catalogue loading the same store (a
// restart after a crash) finds what was acknowledged. While the store
// fails, the provider is asked to retry; its retry commits and is then
// acknowledged.
func TestAcknowledgedNotificationIsStored(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(flakyStore)
	cat, err := catalog.New(catalog.Options{Clock: fc, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	ing := NewIngester(IngestOptions{Catalog: cat, Clock: fc, Subscriptions: fakeSubs{"sub-a": "a"}})
	if err := ing.Configure(true, map[string]Policy{"a": {Publishers: []string{"alice"}}}); err != nil {
		t.Fatal(err)
	}

	st.broken.Store(true)
	r := ing.Ingest(notif("sub-a", 1, "a", "x", "y"), "alice")
	if r.Response.Status != csbmsg.StatusCannotUpdate {
		t.Fatalf("store failing: got %d %q, want 402", r.Response.Status, r.Response.Reason)
	}
	st.broken.Store(false)
	r = ing.Ingest(notif("sub-a", 1, "a", "x", "y"), "alice")
	if r.Response.Status != csbmsg.StatusOK || r.Outcome != OutcomeDuplicate {
		t.Fatalf("retry: got %d %q (%s), want a 200 duplicate", r.Response.Status, r.Response.Reason, r.Outcome)
	}
	r = ing.Ingest(notif("sub-a", 2, "a", "x", "y", "z"), "alice")
	if r.Response.Status != csbmsg.StatusOK {
		t.Fatalf("seq 2: got %d %q", r.Response.Status, r.Response.Reason)
	}

	// "Crash": nothing else is flushed; a new catalogue reads the store.
	cat2, err := catalog.New(catalog.Options{Clock: fc, Store: &st.Memory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat2.Close(context.Background()) })
	providers, services, err := cat2.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if providers != 1 || services != 3 {
		t.Fatalf("after restart: %d providers, %d services; want 1 and 3", providers, services)
	}
	if seq, _, ok := cat2.Sequence("sub-a"); !ok || seq != 2 {
		t.Fatalf("after restart: seqnumber %d (%v), want 2", seq, ok)
	}
}

// TestConcurrentNotificationsAreStored: many providers notify at once
// through IngestBody (announced to the catalogue, so flushes wait for
// each other's notifications); every one is acknowledged, and a restart
// finds every one at its last seqnumber.
func TestConcurrentNotificationsAreStored(t *testing.T) {
	st := new(store.Memory)
	cat, err := catalog.New(catalog.Options{Store: st, CommitWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	ing := NewIngester(IngestOptions{Catalog: cat})
	const providers, each = 16, 5
	pols := map[string]Policy{}
	for g := range providers {
		pols[fmt.Sprintf("p%02d", g)] = Policy{Publishers: []string{AnyPublisher}, PushIDs: []string{fmt.Sprintf("push%02d", g)}}
	}
	if err := ing.Configure(true, pols); err != nil {
		t.Fatal(err)
	}
	tpl := newB1Template(t)
	var wg sync.WaitGroup
	errs := make(chan error, providers*each)
	for g := range providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ptpl := withProvider(tpl, fmt.Sprintf("p%02d", g))
			for seq := uint64(1); seq <= each; seq++ {
				r := ing.IngestBody(ptpl.build(nil, fmt.Sprintf("push%02d", g), seq), "bench", csbmsg.Options{})
				if r.Response.Status != csbmsg.StatusOK || r.Outcome != OutcomeApplied {
					errs <- fmt.Errorf("p%02d seq %d: %d %s", g, seq, r.Response.Status, r.Response.Reason)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cat2, err := catalog.New(catalog.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat2.Close(context.Background()) })
	if np, _, err := cat2.Load(context.Background()); np != providers || err != nil {
		t.Fatalf("after restart: %d providers, %v", np, err)
	}
	for g := range providers {
		if seq, _, ok := cat2.Sequence(fmt.Sprintf("push%02d", g)); !ok || seq != each {
			t.Fatalf("p%02d after restart: seqnumber %d (%v), want %d", g, seq, ok, each)
		}
	}
}

// TestSequentialNotificationsAreNotSpaced: a provider notifying in
// sequence through IngestBody (each notification acknowledged before the
// next) never waits for the catalogue's commit spacing, even an hour of
// it: each notification is one change, written on its own.
func TestSequentialNotificationsAreNotSpaced(t *testing.T) {
	cat, err := catalog.New(catalog.Options{Store: new(store.Memory), CommitSpacing: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ing := NewIngester(IngestOptions{Catalog: cat})
	if err := ing.Configure(true, map[string]Policy{"p": {Publishers: []string{AnyPublisher}, PushIDs: []string{"push"}}}); err != nil {
		t.Fatal(err)
	}
	tpl := withProvider(newB1Template(t), "p")
	done := make(chan error, 1)
	go func() {
		for seq := uint64(1); seq <= 5; seq++ {
			r := ing.IngestBody(tpl.build(nil, "push", seq), "bench", csbmsg.Options{})
			if r.Response.Status != csbmsg.StatusOK || r.Outcome != OutcomeApplied {
				done <- fmt.Errorf("seq %d: %d %s", seq, r.Response.Status, r.Response.Reason)
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
	if err := cat.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
