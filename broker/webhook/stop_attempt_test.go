package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestStopDuringAttemptCostsNoAttempt: Stop cancels the attempts under
// way, and the dispatcher recorded each as the receiver's failure: an
// attempt spent, "context canceled" as its last error and, on a
// delivery's last attempt, the delivery given up. So a restart of the
// broker while a receiver was answering lost that delivery for good. An
// attempt Stop cut short is left as it was stored, and the next start
// sends it with the attempts it had.
func TestStopDuringAttemptCostsNoAttempt(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	answer := false // false: hold the request until the client goes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := answer
		mu.Unlock()
		if ok {
			return // 200
		}
		// Read first: the server notices the client going only once the
		// body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		once.Do(func() { close(arrived) })
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handler
	st := new(store.Memory)
	clk := clock.NewFake(eventsT0)
	newDispatcher := func() *Dispatcher {
		d, err := New(Config{Store: st, Clock: clk, MaxAttempts: 1,
			Client: func(*url.URL) (*http.Client, error) { return http.DefaultClient, nil }})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := newDispatcher()
	sid, err := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret, Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, Message{Type: "csb.job.state", Group: "job1", Order: 1, Time: eventsT0}, sid); err != nil {
		t.Fatal(err)
	}
	d.Start()
	<-arrived
	d.Stop() // the broker stops while the receiver is answering
	list, err := d.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	if dl := list[0]; dl.State != StatePending || dl.Attempts != 0 || dl.LastError != "" {
		t.Fatalf("after Stop: state %s, %d attempts, last error %q; want pending, untouched", dl.State, dl.Attempts, dl.LastError)
	}
	// The next start delivers it.
	mu.Lock()
	answer = true
	mu.Unlock()
	d = newDispatcher()
	if _, err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	list, err = d.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != StateDelivered || list[0].Attempts != 1 {
		t.Fatalf("after the restart: %+v %v; want delivered at the first attempt", list, err)
	}
}
