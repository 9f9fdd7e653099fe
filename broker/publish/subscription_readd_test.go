package publish

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// loadSignalStore is a store.Memory that signals once every Load after
// armed is set.
type loadSignalStore struct {
	store.Memory
	armed  atomic.Bool
	loaded chan struct{}
}

func (s *loadSignalStore) Load(ctx context.Context, key string) ([]byte, error) {
	if s.armed.Load() {
		select {
		case s.loaded <- struct{}{}:
		default:
		}
	}
	return s.Memory.Load(ctx, key)
}

// TestProviderAddedBackWhileItsRemovalRuns: a provider removed from
// the configuration and added back while its subscription's removal is
// still under way (a reload reverted; the provider slow to answer) gets
// a subscription. The new worker must not continue the stored
// subscription the old worker is removing: the old one removes it at the
// provider, deletes the record and releases the id, and the new one
// would then report active a subscription that no longer exists, every
// notification refused with 404, until its renewal.
func TestProviderAddedBackWhileItsRemovalRuns(t *testing.T) {
	fc := clock.NewFake(t0)
	st := &loadSignalStore{loaded: make(chan struct{}, 1)}
	cat, err := catalog.New(catalog.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	h := &harness{t: t, fc: fc, cat: cat, sender: &fakeSender{calls: make(chan call)}}
	h.m = NewManager(ManagerOptions{
		Sender: h.sender, Catalog: cat, Store: st, Clock: fc, Logger: zap.NewNop(),
		RetryMin: time.Second, RetryMax: 8 * time.Second, SyncInterval: -1, Rand: func() float64 { return 0.5 },
	})
	t.Cleanup(func() { h.m.Close(context.Background(), false) })
	testHookAwaitPrevious = func() {
		select {
		case st.loaded <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { testHookAwaitPrevious = nil })

	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	ok(h.expect(csbmsg.ActionCreate, 1), nil)
	h.waitStatus(StatusActive)
	_ = h.m.Configure(nil)
	remove := h.expect(csbmsg.ActionRemove, 2) // not answered yet
	st.armed.Store(true)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	<-st.loaded // the new worker looked at the store, or waits for the old one
	st.armed.Store(false)
	ok(remove, nil)
	c := h.next()
	if c.req.Action != csbmsg.ActionCreate {
		t.Fatalf("got %s seq %d, want a create", c.req.Action, c.req.SeqNumber)
	}
	ok(c, nil)
	h.waitStatus(StatusActive)
	if _, held := h.m.SubscriptionProvider(c.req.ID, "p"); !held {
		t.Fatal("the new subscription is not held")
	}
}
