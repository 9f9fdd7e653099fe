package webhook

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestReconfigureWhileRunning: every configuration reload of the csb app
// reconfigures the dispatcher while its loop runs a pass. Reconfigure
// rewrote the whole configuration, its Store included, under the
// dispatcher's lock, while Pass (and Register, Enqueue, List, ...) read
// the Store field without it: a data race on every reload (the race
// detector's report; the value never changed). The store is the
// dispatcher's own, set once by New.
func TestReconfigureWhileRunning(t *testing.T) {
	d := eventsDispatcher(t, new(store.Memory), clock.NewFake(eventsT0), nil)
	done := make(chan error)
	go func() {
		_, err := d.Pass(context.Background())
		done <- err
	}()
	d.Reconfigure(Config{MaxAttempts: 2})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := d.c(); got.MaxAttempts != 2 || got.Store == nil {
		t.Fatalf("reconfigured: %+v", got)
	}
}
