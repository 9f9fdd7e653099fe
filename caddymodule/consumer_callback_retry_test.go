package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// TestCallbackSecretOnIdempotentRetry: a create with Csb-Callback and no
// Csb-Callback-Secret gets the secret the broker made in its answer, and
// only there. A consumer whose answer was lost retries with the same
// Idempotency-Key and gets the first create's job, but the retry's
// answer carried no secret: the callback's deliveries were signed with
// a secret the consumer never saw, and its receiver refused every one.
// The retry's answer carries the secret of the job's callback when the
// retry names the same callback; never another's.
func TestCallbackSecretOnIdempotentRetry(t *testing.T) {
	w := newOutboxWorld(t)
	m, e := w.broker(nil)
	v := &eventsView{cfg: &EventsConfig{AllowPrivate: true}}
	h := &Handler{ConsumerPath: "/csb/consumer", logger: zap.NewNop(), app: &App{events: e, eventsView: v}}
	create := func(owner, callback, key string) (*jobs.Result, http.Header) {
		t.Helper()
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/csb/consumer", nil)
		r.Header.Set(headerCallback, callback)
		c := &consumerCall{h: h, w: rec, r: r, repl: caddy.NewReplacer(), m: m, owner: owner}
		// As post does.
		subs, registered, err := c.callback()
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Create(context.Background(), owner, jobstest.VMRequest(1, 1), jobs.CreateOptions{IdempotencyKey: key, Subscribers: subs})
		registered(res)
		if err != nil || res.Status != csbmsg.StatusOK {
			t.Fatalf("create: %+v %v", res, err)
		}
		return res, rec.Header()
	}
	cb := w.srv.URL + "/cb"
	first, h1 := create("alice", cb, "k1")
	secret := h1.Get(headerCallbackSecret)
	if _, err := webhook.ParseSecret(secret); err != nil {
		t.Fatalf("first answer's secret %q: %v", secret, err)
	}
	retry, h2 := create("alice", cb, "k1")
	if retry.Job.ID != first.Job.ID {
		t.Fatalf("the retry made job %s, not %s", retry.Job.ID, first.Job.ID)
	}
	if got := h2.Get(headerCallbackSecret); got != secret {
		t.Fatalf("the retry's answer carries secret %q, want the first create's", got)
	}
	// A retry naming another callback is not told the secret of this one
	// (its own callback is dropped: the job keeps the first).
	if _, h3 := create("alice", w.srv.URL+"/other", "k1"); h3.Get(headerCallbackSecret) != "" {
		t.Fatal("a retry with another callback URL was given the job's callback secret")
	}
	// Nor is another user, whose key names a job of its own.
	if res, h4 := create("bob", cb, "k1"); res.Job.ID == first.Job.ID || h4.Get(headerCallbackSecret) == secret {
		t.Fatal("another user was given alice's callback secret")
	}
}
