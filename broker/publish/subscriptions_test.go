package publish

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// call is one command the fake provider received; the test answers it.
type call struct {
	cfg   SubscriptionConfig
	req   csbmsg.Subscription
	reply chan reply
}

type reply struct {
	resp *csbmsg.PublishResponse
	err  error
}

// fakeSender hands every command to the test.
type fakeSender struct{ calls chan call }

func (f *fakeSender) Send(ctx context.Context, cfg SubscriptionConfig, req *csbmsg.PublishRequest) (*csbmsg.PublishResponse, error) {
	c := call{cfg: cfg, req: req.Subscription, reply: make(chan reply, 1)}
	select {
	case f.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-c.reply:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type harness struct {
	t      *testing.T
	fc     *clock.Fake
	cat    *catalog.Catalog
	ing    *Ingester
	m      *Manager
	sender *fakeSender
	store  *store.Memory
	logs   *observer.ObservedLogs
}

func newHarness(t *testing.T, st *store.Memory, fc *clock.Fake) *harness {
	t.Helper()
	if fc == nil {
		fc = clock.NewFake(t0)
	}
	cat, err := catalog.New(catalog.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close(context.Background()) })
	core, logs := observer.New(zap.InfoLevel)
	h := &harness{t: t, fc: fc, cat: cat, sender: &fakeSender{calls: make(chan call)}, logs: logs}
	if st != nil {
		h.store = st
	}
	h.ing = NewIngester(IngestOptions{Catalog: cat, Clock: fc})
	opt := ManagerOptions{
		Sender: h.sender, Catalog: cat, Ingester: h.ing, Clock: fc, Logger: zap.New(core),
		RetryMin: time.Second, RetryMax: 8 * time.Second, SyncInterval: -1, Rand: func() float64 { return 0.5 },
	}
	if st != nil {
		opt.Store = st
	}
	h.m = NewManager(opt)
	t.Cleanup(func() { h.m.Close(context.Background(), false) })
	return h
}

// next waits for the next command.
func (h *harness) next() call {
	h.t.Helper()
	select {
	case c := <-h.sender.calls:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("no command sent")
	}
	return call{}
}

func (h *harness) expect(action csbmsg.SubscriptionAction, seq uint64) call {
	h.t.Helper()
	c := h.next()
	if c.req.Action != action || c.req.SeqNumber != seq {
		h.t.Fatalf("got %s seq %d (id %s), want %s seq %d", c.req.Action, c.req.SeqNumber, c.req.ID, action, seq)
	}
	return c
}

func (h *harness) noCommand() {
	h.t.Helper()
	select {
	case c := <-h.sender.calls:
		h.t.Fatalf("unexpected command %+v", c.req)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitStatus polls the subscription's status until it is want.
func (h *harness) waitStatus(want string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := h.m.Snapshot()
		if len(st) > 0 && st[0].Status == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("status %+v, want %s", st, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func ok(c call, sub *csbmsg.Subscription) {
	c.reply <- reply{resp: &csbmsg.PublishResponse{Status: 200, Reason: "OK", Subscription: sub}}
}

func status(c call, s csbmsg.Status) {
	c.reply <- reply{resp: &csbmsg.PublishResponse{Status: s, Reason: "because"}}
}

// advanceTo waits until the worker waits on a timer, then moves the clock.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	if !h.fc.WaitTimers(1, 5*time.Second) {
		h.t.Fatal("worker not waiting")
	}
	h.fc.Advance(d)
}

var cfgP = SubscriptionConfig{ProviderID: "p", URL: "https://p.example/csb", Expires: 600 * time.Second, Frequency: 20 * time.Second}

func TestCreateRenewRemove(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	if err := h.m.Configure([]SubscriptionConfig{cfgP}); err != nil {
		t.Fatal(err)
	}
	c := h.expect(csbmsg.ActionCreate, 1)
	if *c.req.Expires != 600 || *c.req.Frequency != 20 || c.req.ID == "" {
		t.Fatalf("create %+v", c.req)
	}
	id := c.req.ID
	if pid, held := h.m.SubscriptionProvider(id, "p"); !held || pid != "p" {
		t.Fatal("id not held while the create is in flight")
	}
	// The provider adjusts the values (draft 4.1.2.4).
	ok(c, &csbmsg.Subscription{ID: id, Expires: u64(100), Frequency: u64(60)})
	if !h.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal("not waiting for the renewal")
	}
	st := h.m.Snapshot()[0]
	if st.Status != StatusActive || *st.Expires != 100 || *st.Frequency != 60 || !st.RenewAt.Equal(t0.Add(80*time.Second)) {
		t.Fatalf("state %+v", st)
	}
	if x, _ := h.cat.Lease(id); !x.Equal(t0.Add(100 * time.Second)) {
		t.Fatalf("lease %v", x)
	}
	h.fc.Advance(79 * time.Second)
	h.noCommand()
	h.advance(time.Second)
	c = h.expect(csbmsg.ActionUpdate, 2)
	if c.req.ID != id || *c.req.Expires != 600 {
		t.Fatalf("update %+v", c.req)
	}
	ok(c, nil) // accepted as asked
	if !h.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal("not waiting")
	}
	if x, _ := h.cat.Lease(id); !x.Equal(t0.Add(80*time.Second + 600*time.Second)) {
		t.Fatalf("lease after renewal %v", x)
	}
	// The provider leaves the configuration.
	if err := h.m.Configure(nil); err != nil {
		t.Fatal(err)
	}
	c = h.expect(csbmsg.ActionRemove, 3)
	ok(c, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, held := h.m.SubscriptionProvider(id, "p"); !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("id still held after remove")
		}
		time.Sleep(time.Millisecond)
	}
	if keys, _ := h.store.List(context.Background(), DefaultSubscriptionPrefix); len(keys) != 0 {
		t.Fatalf("record kept: %v", keys)
	}
}

func TestReloadSendsNothingAndChangesUpdate(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP}) // a reload that keeps the provider
	h.noCommand()
	changed := cfgP
	changed.Frequency = 30 * time.Second
	_ = h.m.Configure([]SubscriptionConfig{changed})
	c = h.expect(csbmsg.ActionUpdate, 2)
	if *c.req.Frequency != 30 {
		t.Fatalf("%+v", c.req)
	}
	ok(c, nil)
	moved := changed
	moved.URL = "https://elsewhere.example/csb"
	_ = h.m.Configure([]SubscriptionConfig{moved})
	c = h.expect(csbmsg.ActionRemove, 3)
	if c.cfg.URL != cfgP.URL {
		t.Fatal("remove must go to the old URL")
	}
	ok(c, nil)
	c = h.expect(csbmsg.ActionCreate, 1)
	if c.cfg.URL != moved.URL {
		t.Fatal("create must go to the new URL")
	}
	ok(c, nil)
}

func TestResponseCodes(t *testing.T) {
	h := newHarness(t, new(store.Memory), nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})

	// 405 on create: a fresh id at once.
	c := h.expect(csbmsg.ActionCreate, 1)
	first := c.req.ID
	status(c, csbmsg.StatusSubscriptionExists)
	c = h.expect(csbmsg.ActionCreate, 1)
	if c.req.ID == first {
		t.Fatal("405 must lead to a new id")
	}
	if _, held := h.m.SubscriptionProvider(first, "p"); held {
		t.Fatal("refused id still held")
	}
	// 420 on create: again at once without the optional elements.
	status(c, csbmsg.StatusUnsupported)
	c = h.expect(csbmsg.ActionCreate, 1)
	if c.req.Expires != nil || c.req.Frequency != nil {
		t.Fatal("420 must drop expires/frequency")
	}
	// 401 on create: backoff, then create again.
	status(c, csbmsg.StatusCannotCreate)
	if !h.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal("no backoff")
	}
	// Third failure in a row: 4 s, with jitter 0.5 between 2 s and 4 s: 3 s.
	if p := h.fc.Pending(); !p[0].Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("backoff until %v", p[0])
	}
	h.noCommand()
	h.fc.Advance(3 * time.Second)
	c = h.expect(csbmsg.ActionCreate, 1)
	ok(c, &csbmsg.Subscription{Expires: u64(100)})
	id := c.req.ID

	// 402 on update: backoff, update again with the next seqnumber.
	h.advance(80 * time.Second)
	c = h.expect(csbmsg.ActionUpdate, 2)
	status(c, csbmsg.StatusCannotUpdate)
	h.advance(750 * time.Millisecond)
	c = h.expect(csbmsg.ActionUpdate, 3)
	// 404 on update: create again at once.
	status(c, csbmsg.StatusNoSuchSubscription)
	c = h.expect(csbmsg.ActionCreate, 1)
	if c.req.ID == id {
		t.Fatal("404 on update must create a new id")
	}
	ok(c, nil)
}

func TestFailureLoggedOncePerStateChange(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	for i := range 4 {
		c := h.expect(csbmsg.ActionCreate, 1)
		c.reply <- reply{err: errors.New("connection refused")}
		h.advance(time.Duration(1<<i) * time.Second)
	}
	c := h.expect(csbmsg.ActionCreate, 1)
	status(c, csbmsg.StatusCannotCreate)
	h.advance(8 * time.Second)
	c = h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	if !h.fc.WaitTimers(0, time.Second) {
		t.Fatal()
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.logs.FilterMessage("subscription command succeeded after failures").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("recovery not logged")
		}
		time.Sleep(time.Millisecond)
	}
	if n := h.logs.FilterMessage("subscription command failed").Len(); n != 2 {
		t.Fatalf("failure logged %d times, want 2 (one per kind of failure)", n)
	}
	if st := h.m.Snapshot()[0]; st.Failures != 0 || st.LastError != "" {
		t.Fatalf("state after recovery %+v", st)
	}
}

func TestLapseTakesServicesOutOfPlacement(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	ok(c, &csbmsg.Subscription{Expires: u64(100)})
	ing := NewIngester(IngestOptions{Catalog: h.cat, Clock: h.fc, Subscriptions: h.m})
	_ = ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	if r := ing.Ingest(notif(c.req.ID, 1, "p", "vm"), "u"); r.Outcome != OutcomeApplied {
		t.Fatalf("%+v", r)
	}
	if len(h.cat.Placeable(catalog.KindIaaS)) != 1 {
		t.Fatal("not placeable")
	}
	// Every renewal fails until the subscription lapses.
	h.advance(80 * time.Second)
	for seq := uint64(2); ; seq++ {
		c = h.expect(csbmsg.ActionUpdate, seq)
		status(c, csbmsg.StatusCannotUpdate)
		if !h.fc.WaitTimers(1, 5*time.Second) {
			t.Fatal("not waiting")
		}
		next := h.fc.Pending()[0]
		h.fc.Set(next)
		if !next.Before(t0.Add(100 * time.Second)) {
			break
		}
	}
	if len(h.cat.Placeable(catalog.KindIaaS)) != 0 {
		t.Fatal("services of a lapsed subscription still placeable")
	}
	c = h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	h.waitStatus(StatusActive)
	if h.logs.FilterMessage("subscription lapsed").Len() != 1 {
		t.Fatal("lapse not logged once")
	}
}

func TestResyncSendsUpdateAndExpectsFull(t *testing.T) {
	h := newHarness(t, nil, nil)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	id := c.req.ID
	_ = h.ing.Configure(true, map[string]Policy{"p": {Publishers: []string{"u"}}})
	ing := h.ing
	ing.opt.Subscriptions = h.m
	ing.opt.OnGap = h.m.Resync
	ing.Ingest(notif(id, 1, "p", "a", "b"), "u")
	if r := ing.Ingest(notif(id, 4, "p", "c"), "u"); r.Outcome != OutcomeGap {
		t.Fatalf("%+v", r)
	}
	c = h.expect(csbmsg.ActionUpdate, 2)
	ok(c, nil)
	if r := ing.Ingest(notif(id, 5, "p", "c"), "u"); !r.Full {
		t.Fatal("the notification after a resynchronisation must be full")
	}
	var got []string
	for _, e := range h.cat.Placeable(catalog.KindIaaS) {
		got = append(got, e.Service.ID)
	}
	if len(got) != 1 || got[0] != "c" {
		t.Fatalf("placeable %v", got)
	}
}

func TestRestartContinuesAndStopRemoves(t *testing.T) {
	st := new(store.Memory)
	fc := clock.NewFake(t0)
	h := newHarness(t, st, fc)
	_ = h.m.Configure([]SubscriptionConfig{cfgP})
	c := h.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	id := c.req.ID
	if !h.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal()
	}
	h.m.Close(context.Background(), false) // a crash, or a stop that keeps it
	h.noCommand()

	fc.Advance(time.Minute)
	h2 := newHarness(t, st, fc)
	_ = h2.m.Configure([]SubscriptionConfig{cfgP})
	h2.noCommand() // continued, not created again
	if pid, held := h2.m.SubscriptionProvider(id, "p"); !held || pid != "p" {
		t.Fatal("continued subscription not held")
	}
	h2.advance(420 * time.Second) // renew at 80% of 600 s from t0
	c = h2.expect(csbmsg.ActionUpdate, 2)
	if c.req.ID != id {
		t.Fatal("renewed another id")
	}
	ok(c, nil)
	if !h2.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal()
	}
	done := make(chan struct{})
	go func() {
		h2.m.Close(context.Background(), true) // the broker stops
		close(done)
	}()
	c = h2.expect(csbmsg.ActionRemove, 3)
	ok(c, nil)
	<-done
	if keys, _ := st.List(context.Background(), DefaultSubscriptionPrefix); len(keys) != 0 {
		t.Fatalf("record kept after remove: %v", keys)
	}
}

func TestBrokersSharingAStore(t *testing.T) {
	st := new(store.Memory)
	fc := clock.NewFake(t0)
	a := newHarness(t, st, fc)
	b := newHarness(t, st, fc)
	b.m.opt.SyncInterval = 10 * time.Second
	_ = a.m.Configure([]SubscriptionConfig{cfgP})
	c := a.expect(csbmsg.ActionCreate, 1)
	ok(c, nil)
	id := c.req.ID
	if !a.fc.WaitTimers(1, 5*time.Second) {
		t.Fatal()
	}
	_ = b.m.Configure([]SubscriptionConfig{cfgP})
	b.noCommand() // b continues a's subscription
	if _, held := b.m.SubscriptionProvider(id, "p"); !held {
		t.Fatal("b does not know a's subscription")
	}
	// a renews; b learns it on its next sync and does not renew again.
	fc.Advance(480 * time.Second)
	var first, other *harness
	select {
	case c = <-a.sender.calls:
		first, other = a, b
	case c = <-b.sender.calls:
		first, other = b, a
	case <-time.After(5 * time.Second):
		t.Fatal("nobody renewed")
	}
	if c.req.Action != csbmsg.ActionUpdate || c.req.SeqNumber != 2 {
		t.Fatalf("%+v", c.req)
	}
	ok(c, nil)
	other.noCommand() // the lock and the stored record stop the second broker renewing
	_ = first
	if x, _ := b.cat.Lease(id); !x.After(t0.Add(600*time.Second)) && x.IsZero() {
		t.Fatalf("b's lease %v", x)
	}
}
