package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// outboxReceiver records, per path, the "<job> <seq>" of every delivery
// it is sent, in order.
type outboxReceiver struct {
	mu  sync.Mutex
	got map[string][]string
}

func (r *outboxReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var m struct {
		Data struct {
			JobID string `json:"job_id"`
			Seq   uint64 `json:"seq"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &m)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[req.URL.Path] = append(r.got[req.URL.Path], fmt.Sprintf("%s %d", m.Data.JobID, m.Data.Seq))
}

// seqs returns the seqs path was sent of job id, in order.
func (r *outboxReceiver) seqs(path, id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.got[path] {
		if j, seq, _ := strings.Cut(s, " "); j == id {
			out = append(out, seq)
		}
	}
	return strings.Join(out, ",")
}

// outboxFailingStore fails the writes of queued webhook deliveries whose
// key ends in fail (a delivery's order: the job event's seq), while on.
type outboxFailingStore struct {
	inner store.Store
	fail  string
	on    atomic.Bool
}

func (s *outboxFailingStore) Load(ctx context.Context, key string) ([]byte, error) {
	return s.inner.Load(ctx, key)
}
func (s *outboxFailingStore) Delete(ctx context.Context, key string) error {
	return s.inner.Delete(ctx, key)
}
func (s *outboxFailingStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.inner.List(ctx, prefix)
}
func (s *outboxFailingStore) Lock(ctx context.Context, name string) error {
	return s.inner.Lock(ctx, name)
}
func (s *outboxFailingStore) Unlock(ctx context.Context, name string) error {
	return s.inner.Unlock(ctx, name)
}

func (s *outboxFailingStore) Store(ctx context.Context, key string, value []byte) error {
	if s.on.Load() && strings.HasPrefix(key, "csb/webhooks/queue/") && strings.HasSuffix(key, s.fail) {
		return errors.New("storage unavailable")
	}
	return s.inner.Store(ctx, key, value)
}

// outboxWorld is a store shared by brokers, a provider, a clock and a
// receiver with an operator webhook (/ops) and consumers' callbacks (/cb).
type outboxWorld struct {
	t      *testing.T
	st     *store.Memory
	clk    *clock.Fake
	cat    *jobstest.Catalog
	ads    map[string]*jobstest.Adapter
	placer *placement.Placer
	rcv    *outboxReceiver
	srv    *httptest.Server
	secret string
}

func newOutboxWorld(t *testing.T) *outboxWorld {
	w := &outboxWorld{t: t, st: new(store.Memory), clk: clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)),
		cat: new(jobstest.Catalog), ads: map[string]*jobstest.Adapter{}, rcv: &outboxReceiver{got: map[string][]string{}}, secret: webhook.NewSecret()}
	for _, p := range []string{"a", "b"} {
		w.cat.AddProvider(catalog.ProviderEntry{ID: p})
		w.cat.AddService(p, jobstest.VM("vm-"+p, 8, 32))
		w.ads[p] = &jobstest.Adapter{Name: p}
	}
	var err error
	if w.placer, err = placement.New(placement.Config{Catalog: w.cat, Order: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.rcv)
	t.Cleanup(w.srv.Close)
	return w
}

// broker starts a broker process on the world's store: its job manager
// (whose reaper runs only when told) and its events engine, whose
// dispatcher writes through dst (the world's store when nil) and sends
// only when told.
func (w *outboxWorld) broker(dst store.Store) (*jobs.Manager, *eventsEngine) {
	w.t.Helper()
	m, err := jobs.New(jobs.Config{Store: w.st, Placer: w.placer, Clock: w.clk, ReapInterval: time.Hour,
		Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) { a, ok := w.ads[id]; return a, ok }})
	if err != nil {
		w.t.Fatal(err)
	}
	if dst == nil {
		dst = w.st
	}
	e, err := startEventsEngine(m, dst, zap.NewNop(), w.clk)
	if err != nil {
		w.t.Fatal(err)
	}
	op := &webhook.Subscriber{ID: "op-1", URL: w.srv.URL + "/ops", Secret: w.secret}
	e.view.Store(&eventsView{cfg: &EventsConfig{AllowPrivate: true, Webhooks: []*OperatorWebhook{{URL: op.URL, Secret: op.Secret}}},
		operators: map[string]*webhook.Subscriber{op.ID: op}})
	w.t.Cleanup(func() {
		e.Destruct()
		m.Stop()
	})
	return m, e
}

// pass runs a dispatcher pass and fails the test on an error.
func (w *outboxWorld) pass(e *eventsEngine) {
	w.t.Helper()
	if _, err := e.disp.Pass(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// TestEventsOutboxCrashBetweenWrites: a job's state change is written in
// its record, and its webhook deliveries after it (observe, then the
// dispatcher). A broker that died in between, or whose write of the
// deliveries failed, lost them for good: the record's seq said the event
// happened, no delivery existed and nothing made one, though docs/events.md
// promises that a restart loses none. Here the first broker's delivery
// writes of seq 3 (the create's success) fail and it is never heard of
// again; a fresh broker's first reaper pass stores them from the record's
// outbox, and both the operator's webhook and the consumer's callback get
// the job's events 1, 2, 3 and later 4 in order, each once: a pass of a
// third broker, and the job's next write, store nothing twice.
func TestEventsOutboxCrashBetweenWrites(t *testing.T) {
	ctx := context.Background()
	w := newOutboxWorld(t)
	failing := &outboxFailingStore{inner: w.st, fail: fmt.Sprintf("/%020d", 3)}
	failing.on.Store(true)
	m1, e1 := w.broker(failing)
	sid, err := e1.disp.Register(ctx, webhook.Subscriber{URL: w.srv.URL + "/cb", Secret: w.secret, Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m1.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Subscribers: []string{sid}})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	w.pass(e1)
	for _, p := range []string{"/ops", "/cb"} {
		if got := w.rcv.seqs(p, id); got != "1,2" {
			t.Fatalf("%s got %q from the first broker, want 1,2", p, got)
		}
	}

	// The first broker is gone; a fresh one starts on the same store.
	m2, e2 := w.broker(nil)
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	w.pass(e2)
	for _, p := range []string{"/ops", "/cb"} {
		if got := w.rcv.seqs(p, id); got != "1,2,3" {
			t.Fatalf("%s got %q after a fresh broker's pass, want 1,2,3", p, got)
		}
	}

	// Nothing is stored twice: not by another pass, nor by a third
	// broker's first pass, nor by the job's next write (a remove: seq 4).
	m2.ReapOnce(ctx)
	m3, e3 := w.broker(nil)
	m3.ReapOnce(ctx)
	if r, err := m3.Remove(ctx, "alice", id); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	w.pass(e3)
	w.pass(e2)
	for _, p := range []string{"/ops", "/cb"} {
		if got := w.rcv.seqs(p, id); got != "1,2,3,4" {
			t.Fatalf("%s got %q, want 1,2,3,4", p, got)
		}
	}
	list, err := e3.disp.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dl := range list {
		k := fmt.Sprintf("%s %s %d", dl.Subscriber, dl.Group, dl.Order)
		if seen[k] || dl.State != webhook.StateDelivered {
			t.Errorf("delivery %s: %s, seen before: %v", k, dl.State, seen[k])
		}
		seen[k] = true
	}
	if len(list) != 8 {
		t.Fatalf("%d deliveries, want 8 (4 events, 2 subscribers)", len(list))
	}
}

// TestEventsOutboxLaterEventsWait: while a job event's deliveries cannot
// be stored, the job's later events wait in its record behind it, so a
// subscriber never gets them out of order; once the storage works again,
// the broker's own reaper pass stores them, in seq order.
func TestEventsOutboxLaterEventsWait(t *testing.T) {
	ctx := context.Background()
	w := newOutboxWorld(t)
	failing := &outboxFailingStore{inner: w.st, fail: fmt.Sprintf("/%020d", 2)}
	failing.on.Store(true)
	m, e := w.broker(failing)
	r, err := m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	w.pass(e)
	if got := w.rcv.seqs("/ops", id); got != "1" {
		t.Fatalf("/ops got %q while seq 2 could not be stored, want 1 (3 waits for 2)", got)
	}
	failing.on.Store(false)
	if _, err := m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	w.pass(e)
	if got := w.rcv.seqs("/ops", id); got != "1,2,3" {
		t.Fatalf("/ops got %q, want 1,2,3", got)
	}
}

// TestEventsCallbackOutlivesAClosedJob: a consumer's callback was closed
// when one of its jobs ended and deleted events { retain } later, though
// another job still named it: a COPY inherits its source's callback, and
// removing the copy closed the callback of the original, whose events
// after a day went nowhere (and so did a reclaim queued longer than that
// while its provider was held back). A closed callback is kept while a
// job names it.
func TestEventsCallbackOutlivesAClosedJob(t *testing.T) {
	ctx := context.Background()
	w := newOutboxWorld(t)
	m, e := w.broker(nil)
	sid, err := e.disp.Register(ctx, webhook.Subscriber{URL: w.srv.URL + "/cb", Secret: w.secret, Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Subscribers: []string{sid}, Lease: 100 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("create: %+v %v", r, err)
	}
	orig := r.Job.ID
	c, err := m.Copy(ctx, "alice", orig, jobs.CreateOptions{})
	if err != nil || c.Status != csbmsg.StatusOK || len(c.Job.Events.Subscribers) != 1 {
		t.Fatalf("copy: %+v %v", c, err)
	}
	if r, err := m.Remove(ctx, "alice", c.Job.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove the copy: %+v %v", r, err)
	}
	w.pass(e)
	w.clk.Advance(webhook.DefaultRetain + time.Hour)
	w.pass(e) // prunes what is no longer needed
	if r, err := m.Remove(ctx, "alice", orig); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove the original: %+v %v", r, err)
	}
	w.pass(e)
	if got := w.rcv.seqs("/cb", orig); got != "1,2,3,4" {
		t.Fatalf("the original's callback got %q, want 1,2,3,4 (its removal a day after its copy's)", got)
	}
}
