package sandbox

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func u64(v uint64) *uint64 { return &v }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// broker records notifications and answers with status.
type broker struct {
	mu     sync.Mutex
	got    []*csbmsg.Notification
	status csbmsg.Status
	ch     chan *csbmsg.Notification
	srv    *httptest.Server
}

func newBroker(t *testing.T) *broker {
	b := &broker{status: csbmsg.StatusOK, ch: make(chan *csbmsg.Notification, 100)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != csbmsg.PublishMediaType {
			http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
			return
		}
		data, _ := io.ReadAll(r.Body)
		// Lenient, the codec's default: the sandbox sends all its services
		// in one notification, as the draft's example does.
		msg, err := csbmsg.ParsePublish(data, csbmsg.Options{})
		if err != nil || msg.Notification == nil {
			t.Errorf("broker got an invalid notification: %v\n%s", err, data)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got = append(b.got, msg.Notification)
		st := b.status
		b.mu.Unlock()
		select {
		case b.ch <- msg.Notification:
		default:
		}
		out, _ := csbmsg.MarshalPublish(&csbmsg.Publish{Version: "1.0", Response: &csbmsg.PublishResponse{Status: st}})
		w.Header().Set("Content-Type", csbmsg.PublishMediaType)
		_, _ = w.Write(out)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *broker) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.got) }

func subscribe(t *testing.T, c *Cloud, id string, seq uint64, action csbmsg.SubscriptionAction, expires, freq *uint64) *csbmsg.PublishResponse {
	t.Helper()
	body, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: "1.0", Request: &csbmsg.PublishRequest{Subscription: csbmsg.Subscription{
		ID: id, SeqNumber: seq, Action: action, Expires: expires, Frequency: freq,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return postSub(t, c, body)
}

func postSub(t *testing.T, c *Cloud, body []byte) *csbmsg.PublishResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/csb/subscribe", bytes.NewReader(body))
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	c.SubscriptionHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	msg, err := csbmsg.ParsePublish(rec.Body.Bytes(), csbmsg.Options{Mode: csbmsg.Strict})
	if err != nil || msg.Response == nil {
		t.Fatalf("answer is not a csbresponse: %v\n%s", err, rec.Body)
	}
	return msg.Response
}

func TestSubscriptionStatuses(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := New(Config{})
	c.SetClock(clock.Func(clk.Now))
	c.SetPublishConfig(PublishConfig{MinFrequency: 10 * time.Second, MaxExpires: time.Hour, MaxSubscriptions: 2})

	r := subscribe(t, c, "s1", 1, csbmsg.ActionCreate, u64(600), u64(20))
	if r.Status != 200 || r.Subscription != nil {
		t.Fatalf("create within bounds: %+v", r)
	}
	r = subscribe(t, c, "s1", 1, csbmsg.ActionCreate, u64(600), u64(20))
	if r.Status != csbmsg.StatusSubscriptionExists {
		t.Errorf("duplicate create: %d, want 405", r.Status)
	}
	r = subscribe(t, c, "s2", 1, csbmsg.ActionCreate, u64(7200), u64(1))
	if r.Status != 200 || r.Subscription == nil || *r.Subscription.Expires != 3600 || *r.Subscription.Frequency != 10 {
		t.Errorf("create out of bounds must be adjusted and reported: %+v %+v", r, r.Subscription)
	}
	r = subscribe(t, c, "s3", 1, csbmsg.ActionCreate, nil, nil)
	if r.Status != csbmsg.StatusCannotCreate {
		t.Errorf("create beyond MaxSubscriptions: %d, want 401", r.Status)
	}
	r = subscribe(t, c, "s4", 2, csbmsg.ActionCreate, nil, nil)
	if r.Status != csbmsg.StatusSyntaxError {
		t.Errorf("create with seqnumber 2: %d, want 400", r.Status)
	}
	r = subscribe(t, c, "nope", 2, csbmsg.ActionUpdate, nil, nil)
	if r.Status != csbmsg.StatusNoSuchSubscription {
		t.Errorf("update unknown: %d, want 404", r.Status)
	}
	r = subscribe(t, c, "nope", 2, csbmsg.ActionRemove, nil, nil)
	if r.Status != csbmsg.StatusNoSuchSubscription {
		t.Errorf("remove unknown: %d, want 404", r.Status)
	}
	r = subscribe(t, c, "s1", 1, csbmsg.ActionUpdate, nil, nil)
	if r.Status != csbmsg.StatusSyntaxError {
		t.Errorf("update replaying seqnumber 1: %d, want 400", r.Status)
	}
	r = subscribe(t, c, "s1", 2, csbmsg.ActionUpdate, u64(300), nil)
	if r.Status != 200 || r.Subscription == nil || *r.Subscription.Expires != 300 || *r.Subscription.Frequency != 60 {
		t.Errorf("update with frequency omitted reports the default: %+v", r.Subscription)
	}
	c.SetPublishConfig(PublishConfig{Refuse: true})
	if r = subscribe(t, c, "s9", 1, csbmsg.ActionCreate, nil, nil); r.Status != csbmsg.StatusCannotCreate {
		t.Errorf("refused create: %d, want 401", r.Status)
	}
	if r = subscribe(t, c, "s1", 3, csbmsg.ActionUpdate, nil, nil); r.Status != csbmsg.StatusCannotUpdate {
		t.Errorf("refused update: %d, want 402", r.Status)
	}
	if r = subscribe(t, c, "s1", 4, csbmsg.ActionRemove, nil, nil); r.Status != csbmsg.StatusCannotRemove {
		t.Errorf("refused remove: %d, want 403", r.Status)
	}
	c.SetPublishConfig(PublishConfig{})
	if r = subscribe(t, c, "s1", 5, csbmsg.ActionRemove, nil, nil); r.Status != 200 {
		t.Errorf("remove: %d", r.Status)
	}
	if subs := c.Subscriptions(); len(subs) != 1 || subs[0].ID != "s2" {
		t.Errorf("subscriptions %+v, want s2 only", subs)
	}
	// Syntax and unknown elements carry the codec's 400 and 420.
	if r = postSub(t, c, []byte("<csbpublish")); r.Status != csbmsg.StatusSyntaxError {
		t.Errorf("broken XML: %d, want 400", r.Status)
	}
	unknown := `<?xml version="1.0"?><csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbrequest><subscription action="create" seqnumber="1" id="x1"><colour>red</colour></subscription></csbrequest></csbpublish>`
	if r = postSub(t, c, []byte(unknown)); r.Status != csbmsg.StatusUnsupported {
		t.Errorf("unknown element: %d (%s), want 420", r.Status, r.Reason)
	}
}

func TestSubscriptionHTTPErrors(t *testing.T) {
	c := New(Config{})
	h := c.SubscriptionHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST, PUT" {
		t.Errorf("GET: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("<x/>"))
	req.Header.Set("Content-Type", "text/xml")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/xml: %d, want 415", rec.Code)
	}
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, 2<<20)))
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB: %d, want 413", rec.Code)
	}
}

func TestNotificationsSequencing(t *testing.T) {
	b := newBroker(t)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := New(Config{ProviderID: "cloudA", Price: 0.25})
	c.SetClock(clock.Func(clk.Now))
	c.SetPublishConfig(PublishConfig{BrokerURL: b.srv.URL})
	ctx := context.Background()

	subscribe(t, c, "sub1", 1, csbmsg.ActionCreate, u64(600), u64(30))
	c.PublishDue(ctx) // due at once after create
	if b.count() != 1 {
		t.Fatalf("%d notifications after create, want 1", b.count())
	}
	n := b.got[0]
	if n.ID != "sub1" || n.SeqNumber != 1 || n.Provider.ID != "cloudA" || n.Label != "price:0.25" || len(n.Services) != 2 {
		t.Errorf("first notification %+v", n)
	}
	if *n.Services[0].IaaS.Compute.Cores != 16 {
		t.Errorf("advertised cores %d, want 16 free", *n.Services[0].IaaS.Compute.Cores)
	}
	c.PublishDue(ctx) // nothing changed, not due
	if b.count() != 1 {
		t.Fatalf("notification without change or due time")
	}
	// A change (capacity taken) is notified at once.
	c.mu.Lock()
	_ = c.reserveLocked(4, 0, 0)
	c.mu.Unlock()
	next := c.PublishDue(ctx)
	if b.count() != 2 || b.got[1].SeqNumber != 2 || *b.got[1].Services[0].IaaS.Compute.Cores != 12 {
		t.Fatalf("change not notified with seqnumber 2: %+v", b.got)
	}
	if next != 30*time.Second {
		t.Errorf("next due in %v, want the granted 30s", next)
	}
	// At the granted frequency.
	clk.Add(30 * time.Second)
	c.PublishDue(ctx)
	if b.count() != 3 || b.got[2].SeqNumber != 3 {
		t.Fatalf("periodic notification missing: %d", b.count())
	}
	// The broker down: the sequence number is not consumed.
	b.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) })
	clk.Add(30 * time.Second)
	c.PublishDue(ctx)
	if s := c.Subscriptions()[0]; s.NotifySeq != 3 {
		t.Errorf("failed delivery consumed seqnumber: %d", s.NotifySeq)
	}
	// Expiry drops the subscription.
	clk.Add(time.Hour)
	c.PublishDue(ctx)
	if len(c.Subscriptions()) != 0 {
		t.Errorf("expired subscription kept")
	}
}

func TestNotificationUnknownToBroker(t *testing.T) {
	b := newBroker(t)
	b.status = csbmsg.StatusNoSuchSubscription
	c := New(Config{})
	c.SetPublishConfig(PublishConfig{BrokerURL: b.srv.URL})
	subscribe(t, c, "gone", 1, csbmsg.ActionCreate, nil, nil)
	c.PublishDue(context.Background())
	if len(c.Subscriptions()) != 0 {
		t.Error("a subscription the broker answers 404 for must stop")
	}
}

func TestPushWithoutSubscription(t *testing.T) {
	b := newBroker(t)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := New(Config{})
	c.SetClock(clock.Func(clk.Now))
	c.SetPublishConfig(PublishConfig{BrokerURL: b.srv.URL, PushID: "push1", PushFrequency: 10 * time.Second})
	ctx := context.Background()
	c.PublishDue(ctx)
	clk.Add(10 * time.Second)
	c.PublishDue(ctx)
	if b.count() != 2 || b.got[0].ID != "push1" || b.got[0].SeqNumber != 1 || b.got[1].SeqNumber != 2 {
		t.Fatalf("push notifications %+v", b.got)
	}
	// A subscription command for the push id is not a subscription.
	if r := subscribe(t, c, "push1", 2, csbmsg.ActionUpdate, nil, nil); r.Status != csbmsg.StatusNoSuchSubscription {
		t.Errorf("update of the push id: %d, want 404", r.Status)
	}
}

// TestRunPublisherStops runs the background notifier, checks it reacts to
// a change, and that it returns when its context ends (no leak on reload).
func TestRunPublisherStops(t *testing.T) {
	b := newBroker(t)
	c := New(Config{})
	c.SetPublishConfig(PublishConfig{BrokerURL: b.srv.URL, PushID: "p", PushFrequency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.RunPublisher(ctx, nil); close(done) }()
	first := <-b.ch
	c.mu.Lock()
	_ = c.reserveLocked(1, 0, 0)
	c.mu.Unlock()
	second := <-b.ch
	if first.SeqNumber != 1 || second.SeqNumber != 2 {
		t.Errorf("seqnumbers %d, %d", first.SeqNumber, second.SeqNumber)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPublisher did not stop")
	}
}

func TestFaults(t *testing.T) {
	c := New(Config{})
	h := c.CIMI("/cimi")
	get := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cimi/", nil))
		return rec.Code
	}
	c.SetFaults(Faults{FailAfter: 2})
	if a, b, d := get(), get(), get(); a != 200 || b != 200 || d != 500 {
		t.Errorf("fail after 2: %d %d %d", a, b, d)
	}
	run := func() []int {
		c.SetFaults(Faults{ErrorRate: 0.5, Seed: 7, ErrorRateStatus: 503})
		var out []int
		for range 20 {
			out = append(out, get())
		}
		return out
	}
	first, second := run(), run()
	n := 0
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("seeded error rate is not reproducible: %v vs %v", first, second)
		}
		if first[i] == 503 {
			n++
		}
	}
	if n == 0 || n == 20 {
		t.Errorf("error rate 0.5 gave %d/20 errors", n)
	}
	// Each fault answers with its own status: error_rate's until
	// fail_after's threshold, fail_after's from then on.
	c.SetFaults(Faults{ErrorRate: 1, ErrorRateStatus: 503, FailAfter: 2, FailAfterStatus: 429})
	if a, b, d := get(), get(), get(); a != 503 || b != 503 || d != 429 {
		t.Errorf("error_rate 1 503 + fail_after 2 429: %d %d %d, want 503 503 429", a, b, d)
	}
	c.SetFaults(Faults{ErrorRate: 1, FailAfter: 1, FailAfterStatus: 502})
	if a, b := get(), get(); a != 500 || b != 502 {
		t.Errorf("error_rate 1 + fail_after 1 502: %d %d, want 500 502", a, b)
	}
	c.SetFaults(Faults{ErrorRate: 1, ErrorRateStatus: 503, FailAfter: 1})
	if a, b := get(), get(); a != 503 || b != 500 {
		t.Errorf("error_rate 1 503 + fail_after 1: %d %d, want 503 500", a, b)
	}
	var slept []time.Duration
	c.SetSleep(func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return nil })
	c.SetFaults(Faults{Latency: 250 * time.Millisecond})
	if get() != 200 || len(slept) != 1 || slept[0] != 250*time.Millisecond {
		t.Errorf("latency not injected: %v", slept)
	}
}

func TestMachineTransitionsOnClock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := New(Config{BuildTime: time.Minute})
	c.SetClock(clock.Func(clk.Now))
	h := c.CIMI("/cimi")
	body := `{"resourceURI":"http://schemas.dmtf.org/cimi/1/MachineCreate","machineTemplate":{"machineConfig":{"href":"http://x/cimi/machineConfigs/small"},"machineImage":{"href":"http://x/cimi/machineImages/alpine-3"}}}`
	req := httptest.NewRequest(http.MethodPost, "/cimi/machines", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || rec.Header().Get("CIMI-Job-URI") == "" || rec.Header().Get("Location") == "" {
		t.Fatalf("async create: %d %v", rec.Code, rec.Header())
	}
	loc := strings.TrimPrefix(rec.Header().Get("Location"), "http://example.com")
	state := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, loc, nil))
		s := rec.Body.String()
		i := strings.Index(s, `"state":"`)
		return s[i+9 : i+9+strings.Index(s[i+9:], `"`)]
	}
	if s := state(); s != "CREATING" {
		t.Errorf("state %s, want CREATING", s)
	}
	clk.Add(time.Minute)
	if s := state(); s != "STARTED" {
		t.Errorf("state %s, want STARTED", s)
	}
	if u := c.Usage(); u.Cores != 1 || u.MemoryGB != 1 || u.StorageGB != 10 {
		t.Errorf("usage %+v", u)
	}
}

// TestIDsDifferAcrossRestarts: a new (restarted) cloud never hands out an
// id an earlier one used, so a broker's stale job cannot remove a new
// consumer's machine.
func TestIDsDifferAcrossRestarts(t *testing.T) {
	create := func(c *Cloud) string {
		body := `{"resourceURI":"http://schemas.dmtf.org/cimi/1/MachineCreate","machineTemplate":{"machineConfig":{"href":"http://x/cimi/machineConfigs/small"},"machineImage":{"href":"http://x/cimi/machineImages/alpine-3"}}}`
		req := httptest.NewRequest(http.MethodPost, "/cimi/machines", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		c.CIMI("/cimi").ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated && rec.Code != http.StatusAccepted {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		return rec.Header().Get("Location")
	}
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		loc := create(New(Config{}))
		if !strings.Contains(loc, "/cimi/machines/") || seen[loc] {
			t.Fatalf("restart %d: machine at %q (seen before: %v)", i, loc, seen[loc])
		}
		seen[loc] = true
	}
}

// TestFullCloudStaysActive: a cloud with no room left offers its IaaS
// service as active with 0 cores, not as unavailable, which a broker
// must not contact (draft 4.1.2.3.2): the removal that would free the
// cloud would be held back for good.
func TestFullCloudStaysActive(t *testing.T) {
	c := New(Config{Capacity: Capacity{Cores: 1, MemoryGB: 1, StorageGB: 10}})
	h := c.CIMI("/cimi")
	body := `{"resourceURI":"http://schemas.dmtf.org/cimi/1/MachineCreate","machineTemplate":{"machineConfig":{"href":"http://x/cimi/machineConfigs/small"},"machineImage":{"href":"http://x/cimi/machineImages/alpine-3"}}}`
	req := httptest.NewRequest(http.MethodPost, "/cimi/machines", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	_, svcs, _ := c.Offer()
	for _, s := range svcs {
		if s.IaaS == nil {
			continue
		}
		if s.Status != csbmsg.ServiceActive || s.IaaS.Compute == nil || s.IaaS.Compute.Cores == nil || *s.IaaS.Compute.Cores != 0 {
			t.Fatalf("full cloud offers %s with status %s, compute %+v; want active with 0 cores", s.ID, s.Status, s.IaaS.Compute)
		}
		return
	}
	t.Fatal("no IaaS service offered")
}
