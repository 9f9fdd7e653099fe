package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

var eventsT0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestEventsSignVerify(t *testing.T) {
	secret := NewSecret()
	body := []byte(`{"type":"csb.job.state","data":{"job_id":"j1"}}`)
	h := http.Header{}
	if err := SetHeaders(h, secret, "msg_1", eventsT0, body); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, body, eventsT0.Add(time.Minute), 0); err != nil {
		t.Fatalf("genuine delivery refused: %v", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = 'X'
	for name, c := range map[string]struct {
		secret string
		h      http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		"tampered body":   {secret, h, tampered, eventsT0, ErrSignature},
		"other secret":    {NewSecret(), h, body, eventsT0, ErrSignature},
		"too old":         {secret, h, body, eventsT0.Add(6 * time.Minute), ErrTimestamp},
		"from the future": {secret, h, body, eventsT0.Add(-6 * time.Minute), ErrTimestamp},
		"changed id":      {secret, eventsWith(h, HeaderID, "msg_2"), body, eventsT0, ErrSignature},
		"changed time":    {secret, eventsWith(h, HeaderTimestamp, strconv.FormatInt(eventsT0.Unix()+1, 10)), body, eventsT0, ErrSignature},
		"no signature":    {secret, eventsWith(h, HeaderSignature, ""), body, eventsT0, ErrMissingHeaders},
		"bad secret":      {"whsec_short", h, body, eventsT0, ErrSecret},
	} {
		if err := Verify(c.secret, c.h, c.body, c.now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	v := &Verifier{Secret: secret, Now: func() time.Time { return eventsT0 }}
	if err := v.Verify(h, body); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, body); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
}

func eventsWith(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c.Set(k, v)
	return c
}

// eventsReceiver records deliveries and fails the first `fail` attempts.
type eventsReceiver struct {
	mu    sync.Mutex
	fail  int
	got   []string // "<webhook-id> <body>" of accepted deliveries
	tries int
	v     *Verifier
}

func (r *eventsReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if err := r.v.Verify(req.Header, body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		// Not processed: its retry must verify.
		r.v.Forget(req.Header.Get(HeaderID))
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, req.Header.Get("Csb-Attempt")+" "+string(body))
}

func eventsDispatcher(t *testing.T, st store.Store, clk *clock.Fake, op *Subscriber) *Dispatcher {
	t.Helper()
	d, err := New(Config{Store: st, Clock: clk, RetryMin: time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3,
		Client:     func(*url.URL) (*http.Client, error) { return http.DefaultClient, nil },
		Subscriber: func(id string) (*Subscriber, bool) { return op, op != nil && id == op.ID }})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEventsDispatcherRetriesInOrder: the first delivery fails twice and
// is retried with backoff; the group's later deliveries wait for it, so
// the receiver gets them in order; the queue survives a restart.
func TestEventsDispatcherRetriesInOrder(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{fail: 2, v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := new(store.Memory)
	d := eventsDispatcher(t, st, clk, nil)
	sid, err := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret, Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		if err := d.Enqueue(ctx, Message{Type: "csb.job.state", Group: "job1", Order: i, Time: eventsT0, Data: map[string]uint64{"seq": i}}, sid); err != nil {
			t.Fatal(err)
		}
	}
	next, err := d.Pass(ctx)
	if err != nil || !next.Equal(eventsT0.Add(time.Second)) || rcv.tries != 1 || len(rcv.got) != 0 {
		t.Fatalf("first pass: next %v err %v tries %d got %v", next, err, rcv.tries, rcv.got)
	}
	// A restart: a new dispatcher on the same store goes on.
	d = eventsDispatcher(t, st, clk, nil)
	clk.Set(next)
	next, _ = d.Pass(ctx)
	if !next.Equal(eventsT0.Add(3*time.Second)) || rcv.tries != 2 {
		t.Fatalf("second pass: next %v tries %d (backoff doubles)", next, rcv.tries)
	}
	clk.Set(next)
	if next, _ = d.Pass(ctx); !next.IsZero() {
		t.Fatalf("third pass left %v", next)
	}
	want := []string{
		`3 {"type":"csb.job.state","timestamp":"2026-12-06T12:00:00Z","data":{"seq":1}}`,
		`1 {"type":"csb.job.state","timestamp":"2026-12-06T12:00:00Z","data":{"seq":2}}`,
		`1 {"type":"csb.job.state","timestamp":"2026-12-06T12:00:00Z","data":{"seq":3}}`,
	}
	if len(rcv.got) != 3 || rcv.got[0] != want[0] || rcv.got[1] != want[1] || rcv.got[2] != want[2] {
		t.Fatalf("received %q", rcv.got)
	}
	list, err := d.List(ctx)
	if err != nil || len(list) != 3 || list[0].State != StateDelivered || list[0].Attempts != 3 || list[0].LastStatus != 200 {
		t.Fatalf("list %+v %v", list, err)
	}
}

// TestEventsDispatcherGivesUp: after MaxAttempts a delivery is recorded
// failed and the group goes on.
func TestEventsDispatcherGivesUp(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{fail: 3, v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	op := &Subscriber{ID: "op-0", URL: srv.URL, Secret: secret, Events: []string{"csb.job.state"}}
	d := eventsDispatcher(t, new(store.Memory), clk, op)
	d.Enqueue(ctx, Message{Type: "csb.provider.health", Group: "b", Order: 1, Time: eventsT0}, "op-0") // filtered out
	d.Enqueue(ctx, Message{Type: "csb.job.state", Group: "j", Order: 1, Time: eventsT0}, "op-0")
	d.Enqueue(ctx, Message{Type: "csb.job.state", Group: "j", Order: 2, Time: eventsT0}, "op-0")
	for range 5 {
		next, _ := d.Pass(ctx)
		if next.IsZero() {
			break
		}
		clk.Set(next)
	}
	list, _ := d.List(ctx)
	if len(list) != 2 || list[0].State != StateFailed || list[0].Attempts != 3 || list[1].State != StateDelivered {
		t.Fatalf("list %+v", list)
	}
}

// TestEventsClosedSubscriberPruned: a closed consumer subscriber is
// deleted once Retain has passed and nothing is queued for it, not
// before; messages sent meanwhile are still delivered.
func TestEventsClosedSubscriberPruned(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{v: &Verifier{Secret: secret, Now: clk.Now, Tolerance: 48 * time.Hour}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := new(store.Memory)
	d := eventsDispatcher(t, st, clk, nil)
	sid, _ := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret})
	if err := d.Close(ctx, sid); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	d.Enqueue(ctx, Message{Type: "csb.job.reclaimed", Group: "j", Order: 9, Time: clk.Now()}, sid)
	d.Pass(ctx)
	if len(rcv.got) != 1 {
		t.Fatalf("a closed subscriber's late message: %v", rcv.got)
	}
	if _, err := st.Load(ctx, subPrefix+sid); err != nil {
		t.Fatalf("deleted before retain: %v", err)
	}
	clk.Advance(DefaultRetain)
	d.Pass(ctx)
	if _, err := st.Load(ctx, subPrefix+sid); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("kept after retain: %v", err)
	}
}
