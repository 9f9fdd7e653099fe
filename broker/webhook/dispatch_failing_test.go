package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// reviewKTransport answers every request in memory: the host "down" fails
// (as a receiver that never answers does, after the attempt's timeout),
// any other is answered 200. It counts the requests per host.
type reviewKTransport struct {
	mu    sync.Mutex
	calls map[string]int
}

func (t *reviewKTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.calls[req.URL.Host]++
	t.mu.Unlock()
	if req.URL.Host == "down" {
		return nil, errors.New("timeout awaiting response headers")
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func (t *reviewKTransport) count(host string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[host]
}

// TestDispatchFailingSubscriberDoesNotHoldUpOthers: a pass sends every
// due group and returns only when all are done, so each attempt at a
// subscriber that does not answer costs up to Timeout (10s) of the pass
// while every other subscriber's deliveries wait for it. A consumer
// whose callback URL is dead, with deliveries queued for 50 jobs, made
// each pass spend 50 timeouts on it. Once an attempt at a subscriber
// failed, its other groups wait for the next pass; the other subscribers
// are served in this one, and the failing one's groups still get their
// attempts, one pass after another.
func TestDispatchFailingSubscriberDoesNotHoldUpOthers(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(eventsT0)
	tr := &reviewKTransport{calls: map[string]int{}}
	secret := NewSecret()
	subs := map[string]*Subscriber{
		"op-down": {ID: "op-down", URL: "http://down/hook", Secret: secret},
		"op-up":   {ID: "op-up", URL: "http://up/hook", Secret: secret},
	}
	d, err := New(Config{Store: new(store.Memory), Clock: clk, Parallel: 1, MaxAttempts: 3,
		Client:     func(*url.URL) (*http.Client, error) { return &http.Client{Transport: tr}, nil },
		Subscriber: func(id string) (*Subscriber, bool) { s, ok := subs[id]; return s, ok }})
	if err != nil {
		t.Fatal(err)
	}
	const jobs = 50
	for i := range jobs {
		msg := Message{Type: "csb.job.state", Group: fmt.Sprintf("job%02d", i), Order: 1, Time: eventsT0}
		if err := d.Enqueue(ctx, msg, "op-down", "op-up"); err != nil {
			t.Fatal(err)
		}
	}
	next, err := d.Pass(ctx)
	if err != nil || next.IsZero() {
		t.Fatalf("pass: next %v err %v", next, err)
	}
	if n := tr.count("up"); n != jobs {
		t.Fatalf("the answering subscriber got %d of %d deliveries", n, jobs)
	}
	if n := tr.count("down"); n != 1 {
		t.Fatalf("the failing subscriber was tried %d times in one pass, want 1", n)
	}
	// Later passes go on with its other groups, and give each up after
	// MaxAttempts: nothing is skipped for good.
	for range 1000 {
		if next.IsZero() {
			break
		}
		clk.Set(next)
		if next, err = d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, dl := range list {
		if dl.Subscriber == "op-down" && dl.State == StateFailed && dl.Attempts == 3 {
			failed++
		}
	}
	if failed != jobs || tr.count("down") != 3*jobs {
		t.Fatalf("%d deliveries to the failing subscriber given up after 3 attempts, %d attempts; want %d and %d", failed, tr.count("down"), jobs, 3*jobs)
	}
}
