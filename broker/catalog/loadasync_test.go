package catalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// gatedStore holds every Load of a catalogue record until gate closes.
type gatedStore struct {
	*store.Memory
	gate chan struct{}
}

func (g gatedStore) Load(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, DefaultKeyPrefix) {
		<-g.gate
	}
	return g.Memory.Load(ctx, key)
}

// TestLoadInBackground: while the stored records are read on a goroutine
// of their own, a Configure returns at once and is applied after the
// load (a provider it no longer names is not brought back by the stored
// record), and the readers wait for the load instead of answering from
// an empty catalogue.
func TestLoadInBackground(t *testing.T) {
	fc := clock.NewFake(t0)
	st := new(store.Memory)
	c := newCat(t, Options{Clock: fc, Store: st})
	_ = c.Configure([]ProviderConfig{{ID: "p"}, {ID: "q"}})
	c.SetLease("s", t0.Add(time.Hour))
	c.SetLease("u", t0.Add(time.Hour))
	c.ApplyNotification(notif("s", 1, "p", iaas("a", 1)), true)
	c.ApplyNotification(notif("u", 1, "q", iaas("b", 1)), true)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	gate := make(chan struct{})
	c2 := newCat(t, Options{Clock: fc, Store: gatedStore{st, gate}})
	type loaded struct{ np, ns int }
	done := make(chan loaded, 1)
	c2.LoadInBackground(context.Background(), func(np, ns int, err error) {
		if err != nil {
			t.Errorf("load: %v", err)
		}
		done <- loaded{np, ns}
	})
	// The configuration of the new start drops q; it must not wait for
	// the load (the gate is still shut).
	if err := c2.Configure([]ProviderConfig{{ID: "p"}}); err != nil {
		t.Fatal(err)
	}
	placeable := make(chan []string, 1)
	go func() { placeable <- ids(c2.Placeable(KindIaaS)) }()
	close(gate)
	eq(t, <-placeable, []string{"p/a"})
	if l := <-done; l.np != 2 || l.ns != 2 {
		t.Errorf("load reported %d providers, %d services, want 2, 2", l.np, l.ns)
	}
	if _, ok := c2.Provider("q"); ok {
		t.Error("provider q, no longer configured, is back after the load")
	}
}
