package tests

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// eventsDelivery is one delivery a test receiver accepted.
type eventsDelivery struct {
	ID      string
	Attempt int
	Header  http.Header
	Body    []byte
	Type    string `json:"type"`
	Data    struct {
		JobID     string `json:"job_id"`
		Owner     string `json:"owner"`
		Seq       uint64 `json:"seq"`
		OldStatus string `json:"old_status"`
		NewStatus string `json:"new_status"`
	} `json:"data"`
}

// eventsReceiver is a webhook receiver on loopback: it verifies every
// delivery with the subscriber's secret (refusing replays), answers 503
// to the first failFirst attempts, and records what it accepted.
type eventsReceiver struct {
	srv       *httptest.Server
	v         *webhook.Verifier
	mu        sync.Mutex
	failFirst int
	attempts  int
	log       []string // "<id> attempt <n>" of every request
	refused   []string // why deliveries were refused
	got       []eventsDelivery
	changed   chan struct{}
}

func newEventsReceiver(t *testing.T, secret string, failFirst int) *eventsReceiver {
	r := &eventsReceiver{v: &webhook.Verifier{Secret: secret}, failFirst: failFirst, changed: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *eventsReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}()
	r.attempts++
	r.log = append(r.log, req.Header.Get(webhook.HeaderID)+" attempt "+req.Header.Get("Csb-Attempt"))
	if err := r.v.Verify(req.Header, body); err != nil {
		r.refused = append(r.refused, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.failFirst > 0 {
		r.failFirst--
		r.v.Forget(req.Header.Get(webhook.HeaderID)) // not processed: its retry must verify
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	d := eventsDelivery{ID: req.Header.Get(webhook.HeaderID), Header: req.Header.Clone(), Body: body}
	d.Attempt, _ = strconv.Atoi(req.Header.Get("Csb-Attempt"))
	if err := json.Unmarshal(body, &d); err != nil {
		r.refused = append(r.refused, "body: "+err.Error())
	}
	r.got = append(r.got, d)
}

// waitFor waits until cond holds over the accepted deliveries.
func (r *eventsReceiver) waitFor(t *testing.T, what string, cond func([]eventsDelivery) bool) []eventsDelivery {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		got := append([]eventsDelivery(nil), r.got...)
		refused := append([]string(nil), r.refused...)
		r.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("receiver never got %s; got %v; refused %v", what, eventsSummary(got), refused)
		}
	}
}

func eventsSummary(ds []eventsDelivery) []string {
	var out []string
	for _, d := range ds {
		s := d.Type + "#" + strconv.FormatUint(d.Data.Seq, 10)
		if d.Type == "csb.job.state" {
			s += "(" + d.Data.OldStatus + ">" + d.Data.NewStatus + ")"
		}
		out = append(out, s)
	}
	return out
}

// eventsBroker starts a consumer broker whose csb option has the given
// events block (the jobs block is closed early to put it beside).
func eventsBroker(t *testing.T, events string) *consumerBroker {
	t.Helper()
	return startConsumerBroker(t, brokerOptions{providers: []string{"p1"}, jobs: "\t\t}\n\t\tevents {\n" + events})
}

// TestEventsWebhookLifecycle: a consumer's callback receives signed
// deliveries, in order, of its job's create, success, lease warning and
// reclaim; the receiver fails the first delivery twice and gets it again
// (same delivery id) before any later one; a tampered body fails
// verification; the admin API shows the deliveries.
func TestEventsWebhookLifecycle(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newEventsReceiver(t, secret, 2)
	b := eventsBroker(t, "\t\t\tallow_private\n\t\t\tlease_warning 2s\n\t\t\tretry 50ms 200ms\n")
	a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": "3", "Csb-Callback": rcv.srv.URL + "/hook", "Csb-Callback-Secret": secret})
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	if a.Header.Get("Csb-Callback-Secret") != "" {
		t.Fatal("the answer echoed a secret the consumer gave")
	}
	got := rcv.waitFor(t, "the reclaim", func(ds []eventsDelivery) bool {
		for _, d := range ds {
			if d.Type == "csb.job.reclaimed" {
				return true
			}
		}
		return false
	})
	// Every event of the job, in order, numbered 1, 2, 3, ...
	var kinds []string
	for i, d := range got {
		if d.Data.JobID != id || d.Data.Owner != "alice" || d.Data.Seq != uint64(i+1) {
			t.Fatalf("delivery %d out of order or foreign: %v", i, eventsSummary(got))
		}
		k := d.Type
		if k == "csb.job.state" {
			k = d.Data.NewStatus
		}
		kinds = append(kinds, k)
	}
	if want := []string{"pending", "success", "csb.job.lease_warning", "expired", "csb.job.reclaimed"}; !eventsSubsequence(kinds, want) {
		t.Fatalf("deliveries %v do not hold %v in order", eventsSummary(got), want)
	}
	if kinds[0] != "pending" || kinds[len(kinds)-1] != "csb.job.reclaimed" {
		t.Fatalf("deliveries %v", eventsSummary(got))
	}
	// The first delivery failed twice: its third attempt, same id, came
	// before every later delivery.
	if got[0].Attempt != 3 || rcv.attempts != len(got)+2 {
		t.Fatalf("first delivery attempt %d, receiver saw %d attempts for %d deliveries: %q", got[0].Attempt, rcv.attempts, len(got), rcv.log)
	}
	// Signed: the genuine body verifies, a tampered one does not.
	d := got[1]
	if err := webhook.Verify(secret, d.Header, d.Body, time.Now(), 0); err != nil {
		t.Fatalf("genuine delivery: %v", err)
	}
	tampered := []byte(strings.Replace(string(d.Body), `"owner":"alice"`, `"owner":"mallory"`, 1))
	if string(tampered) == string(d.Body) {
		t.Fatalf("nothing to tamper with in %s", d.Body)
	}
	if err := webhook.Verify(secret, d.Header, tampered, time.Now(), 0); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	if err := rcv.v.Verify(d.Header, d.Body); !errors.Is(err, webhook.ErrReplay) {
		t.Fatalf("replayed delivery: %v", err)
	}
	// The admin API shows the deliveries, the first with three attempts
	// (the last one is recorded just after the receiver answered it).
	var out struct {
		Deliveries []struct {
			ID, State, Event string
			Attempts         int
			Seq              uint64
			LastStatus       int `json:"last_status"`
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, body := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/webhooks?job="+id+"&state=delivered", "", "", nil)
		if err := json.Unmarshal(body, &out); st != 200 || err != nil {
			t.Fatalf("admin: %d %v %s", st, err, body)
		}
		if len(out.Deliveries) == len(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin lists %d delivered, the receiver got %d: %s", len(out.Deliveries), len(got), body)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	first := out.Deliveries[0]
	if first.ID != got[0].ID || first.State != "delivered" || first.Attempts != 3 || first.Seq != 1 || first.LastStatus != 200 {
		t.Fatalf("admin first delivery %+v", first)
	}
}

func eventsSubsequence(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestEventsCallbackLoopbackRefused: a callback URL on loopback is
// refused (400, nothing created) unless events { allow_private }; a
// broker-generated secret is returned once.
func TestEventsCallbackLoopbackRefused(t *testing.T) {
	b := eventsBroker(t, "\t\t\tlease_warning off\n")
	before := b.inventory()["p1"]
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "http://10.0.0.1/hook"} {
		a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Callback": u})
		if a.HTTP != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", u, a.HTTP, a.Body)
		}
	}
	if n := b.inventory()["p1"]; n != before {
		t.Fatalf("a refused create provisioned something: %d → %d", before, n)
	}
	a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Callback": "ftp://hooks.example.org/x"})
	if a.HTTP != http.StatusBadRequest {
		t.Fatalf("ftp callback: %d %s", a.HTTP, a.Body)
	}
	// Allowed by configuration: the same loopback URL is taken, and the
	// broker makes the secret.
	rcv := newEventsReceiver(t, "", 0)
	b.reload(brokerOptions{jobs: "\t\t}\n\t\tevents {\n\t\t\tallow_private\n"})
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the reload closed them
	a = b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Callback": rcv.srv.URL})
	mustStatus(t, a, csbmsg.StatusOK)
	secret := a.Header.Get("Csb-Callback-Secret")
	if _, err := webhook.ParseSecret(secret); err != nil {
		t.Fatalf("generated secret %q: %v", secret, err)
	}
	rcv.mu.Lock()
	rcv.v.Secret = secret
	rcv.mu.Unlock()
	rcv.waitFor(t, "the job's success", func(ds []eventsDelivery) bool {
		for _, d := range ds {
			if d.Data.NewStatus == "success" {
				return true
			}
		}
		return false
	})
	// A callback is taken by a create only: on any other request it is
	// refused, not answered 200 without it.
	id := a.jobID()
	cb := map[string]string{"Csb-Callback": rcv.srv.URL}
	for _, r := range []struct {
		method string
		body   []byte
	}{
		{http.MethodPut, nil},
		{http.MethodDelete, nil},
		{http.MethodGet, nil},
		{http.MethodPost, consumerBody(t, &csbmsg.ServiceRequest{JobInfo: &csbmsg.JobInfo{JobID: id, Action: csbmsg.JobUpdate}})},
	} {
		path := "/" + id
		if r.method == http.MethodPost {
			path = ""
		}
		if got := b.do("alice", r.method, path, r.body, cb); got.HTTP != http.StatusBadRequest {
			t.Fatalf("%s with Csb-Callback on job %s: %d %s, want 400", r.method, id, got.HTTP, got.Body)
		}
	}
	if got := b.do("alice", http.MethodGet, "/"+id, nil, nil); got.HTTP != http.StatusOK || got.Resp == nil || got.Resp.JobInfo == nil || got.Resp.JobInfo.JobStatus != "success" {
		t.Fatalf("the job after the refused requests: %d %s", got.HTTP, got.Body)
	}
}

// TestEventsOperatorWebhook: an operator's webhook (Caddyfile, on
// loopback: trusted like a provider's URL) receives the events it names
// of every job, without any callback on the create; the admin API lists
// it without its secret. A callback refused after its create failed
// leaves no subscriber behind.
func TestEventsOperatorWebhook(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newEventsReceiver(t, secret, 0)
	b := eventsBroker(t, "\t\t\twebhook "+rcv.srv.URL+"/ops {\n\t\t\t\tsecret "+secret+"\n\t\t\t\tevents csb.job.state\n\t\t\t}\n")
	a := b.create("bob", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	mustStatus(t, b.do("bob", http.MethodDelete, "/"+id, nil, nil), csbmsg.StatusOK)
	got := rcv.waitFor(t, "the removal", func(ds []eventsDelivery) bool {
		return len(ds) > 0 && ds[len(ds)-1].Data.NewStatus == "removed"
	})
	for i, d := range got {
		if d.Type != "csb.job.state" || d.Data.JobID != id || d.Data.Owner != "bob" || d.Data.Seq != uint64(i+1) {
			t.Fatalf("operator deliveries %v", eventsSummary(got))
		}
	}
	st, _, body := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/webhooks", "", "", nil)
	if st != 200 || !strings.Contains(string(body), rcv.srv.URL+"/ops") || strings.Contains(string(body), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("admin: %d %s", st, body)
	}
	// A create that finds no provider drops the callback it registered.
	b.reload(brokerOptions{jobs: "\t\t}\n\t\tevents {\n\t\t\tallow_private\n"})
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the reload closed them
	mustStatus(t, b.create("bob", vmRequest(1, 1), map[string]string{"Csb-Callback": rcv.srv.URL + "/job"}), csbmsg.StatusOK)
	if subs := eventsStoredSubscribers(t, b); len(subs) != 1 {
		t.Fatalf("subscribers of one callback: %v", subs)
	}
	huge := b.create("bob", vmRequest(64, 1), map[string]string{"Csb-Callback": rcv.srv.URL + "/job"})
	if huge.status() != csbmsg.StatusUnableToFindResource || huge.Header.Get("Csb-Callback-Secret") != "" {
		t.Fatalf("create beyond every provider: %d %d, secret %q", huge.HTTP, huge.status(), huge.Header.Get("Csb-Callback-Secret"))
	}
	if subs := eventsStoredSubscribers(t, b); len(subs) != 1 {
		t.Fatalf("subscribers left behind: %v", subs)
	}
}

// eventsStoredSubscribers lists the consumer subscribers in the broker's
// file-system storage.
func eventsStoredSubscribers(t *testing.T, b *consumerBroker) []string {
	t.Helper()
	dir := filepath.Join(b.dataDir, "caddy", "csb", "webhooks", "sub")
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestEventsDeliveriesSurviveRestart: deliveries a receiver refused while
// the broker ran are still delivered, in order, after the broker
// restarts (they are kept in storage, not in memory).
func TestEventsDeliveriesSurviveRestart(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newEventsReceiver(t, secret, 1<<30) // refuses everything for now
	b := eventsBroker(t, "\t\t\tallow_private\n\t\t\tretry 50ms 100ms\n\t\t\tmax_attempts 1000\n")
	a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Callback": rcv.srv.URL, "Csb-Callback-Secret": secret})
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	// The first delivery has been refused at least once; nothing arrived.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rcv.mu.Lock()
		tried := rcv.attempts
		rcv.mu.Unlock()
		if tried > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempt")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	b.p.Restart()
	rcv.mu.Lock()
	rcv.failFirst = 0
	rcv.mu.Unlock()
	got := rcv.waitFor(t, "the success", func(ds []eventsDelivery) bool {
		return len(ds) > 0 && ds[len(ds)-1].Data.NewStatus == "success"
	})
	for i, d := range got {
		if d.Data.JobID != id || d.Data.Seq != uint64(i+1) {
			t.Fatalf("after the restart: %v", eventsSummary(got))
		}
	}
	if got[0].Data.NewStatus != "pending" || got[0].Attempt < 2 {
		t.Fatalf("first delivery %+v (attempt %d)", got[0].Data, got[0].Attempt)
	}
}
