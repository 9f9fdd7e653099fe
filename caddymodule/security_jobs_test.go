package caddymodule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// secJobsUnknown answers ErrNoJob for id the way the consumer handler
// does and returns the recorded response.
func secJobsUnknown(t *testing.T, id string) (*httptest.ResponseRecorder, *caddy.Replacer, error) {
	t.Helper()
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	c := &consumerCall{h: &Handler{ConsumerPath: "/csb/consumer", logger: zap.NewNop()}, w: w,
		r: httptest.NewRequest(http.MethodGet, "/csb/consumer/x", nil), repl: repl}
	err := c.fail(jobs.ErrNoJob, csbmsg.StatusUnableToFindResource, id)
	return w, repl, err
}

// Any byte sequence as a job id gets the unknown-job answer: HTTP 200,
// a <CloudServiceResponse> with status 408 that parses, never the 500
// "serializing the response" that ids with control characters or invalid
// UTF-8 got. Printable ids are echoed; others are not.
func TestUnknownJobAnswerForAnyID(t *testing.T) {
	ids := []string{"\x00", "abc\x00", "\x01", "\x1b", "\xff", "\xc0\x80", "\xed\xa0\x80", "\x7f", "\ufffe", "\uffff",
		"a b", "a\tb", "a\nb", "a\rb", "<", "&", "]]>", `"'`, strings.Repeat("A", 129), strings.Repeat("\xff", 4096), "\xef\xbf\xbe",
		"AAAAAAAAAAAAAAAAAAAAAA", "%00", "../x"}
	for b := 0; b < 256; b++ {
		ids = append(ids, string([]byte{byte(b)}), "job"+string([]byte{byte(b)})+"id")
	}
	rnd := rand.New(rand.NewPCG(15, 6))
	for range 2000 {
		b := make([]byte, 1+rnd.IntN(40))
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		ids = append(ids, string(b))
	}
	for _, id := range ids {
		w, repl, err := secJobsUnknown(t, id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("%q: HTTP %d", id, w.Code)
		}
		msg, perr := csbmsg.ParseConsumer(w.Body.Bytes(), csbmsg.Options{})
		if perr != nil || msg.Response == nil || msg.Response.Status != csbmsg.StatusUnableToFindResource || !strings.HasPrefix(msg.Response.Reason, "no such job") {
			t.Fatalf("%q: answer %s (%v)", id, w.Body.Bytes(), perr)
		}
		echoed := msg.Response.Reason == "no such job: "+id
		if echoed != shownJobID(id) || !echoed && msg.Response.Reason != "no such job" {
			t.Fatalf("%q: reason %q", id, msg.Response.Reason)
		}
		if got, _ := repl.GetString("http.csb.job.id"); echoed && got != id || !echoed && got != "" {
			t.Fatalf("%q: placeholder %q", id, got)
		}
	}
}

// A create the store could not record is answered 503, not 500.
func TestNotRecordedIs503(t *testing.T) {
	w := httptest.NewRecorder()
	c := &consumerCall{h: &Handler{ConsumerPath: "/csb/consumer", logger: zap.NewNop()}, w: w,
		r: httptest.NewRequest(http.MethodPost, "/csb/consumer", nil), repl: caddy.NewReplacer()}
	err := c.fail(fmt.Errorf("%w: disk full", jobs.ErrNotRecorded), csbmsg.StatusUnableToFindResource, "")
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %v", err)
	}
}

func TestJobsLimitOptions(t *testing.T) {
	a := new(App)
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`csb {
		xml {
			max_text_size 1KiB
		}
		jobs {
			retain_failed 5m
			max_jobs_per_owner unlimited
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.XML.MaxTextSize != 1024 || a.Consumer.MaxJobsPerOwner != -1 || a.Consumer.RetainFailed != caddy.Duration(5*60e9) {
		t.Fatalf("xml %+v, consumer %+v", a.XML, a.Consumer)
	}
	tun := a.Consumer.tunables()
	if tun.MaxJobsPerOwner != -1 || tun.RetainFailed != 5*60e9 {
		t.Fatalf("tunables %+v", tun)
	}
	x := &XMLConfig{MaxTextSize: 10}
	x.provision(zap.NewNop())
	if x.limits.MaxTextBytes != 10 {
		t.Fatalf("limits %+v", x.limits)
	}
	x = new(XMLConfig)
	x.provision(zap.NewNop())
	if x.limits.MaxTextBytes != csbmsg.DefaultMaxTextBytes {
		t.Fatalf("default limits %+v", x.limits)
	}

	for _, tc := range []struct{ input, want string }{
		{"csb {\n jobs {\n max_jobs_per_owner 0\n }\n}", `max_jobs_per_owner "0"`},
		{"csb {\n jobs {\n max_jobs_per_owner lots\n }\n}", `max_jobs_per_owner "lots"`},
		{"csb {\n jobs {\n max_jobs_per_owner 1 2\n }\n}", "wrong argument count"},
		{"csb {\n jobs {\n retain_failed never\n }\n}", `retain_failed "never"`},
		{"csb {\n xml {\n max_text_size huge\n }\n}", `max_text_size: invalid size "huge"`},
		{"csb {\n xml {\n max_text_size 0\n }\n}", `max_text_size: invalid size "0"`},
	} {
		err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: %v, want %q", tc.input, err, tc.want)
		}
	}
	if err := (&ConsumerConfig{MaxJobsPerOwner: -2}).validate(nil); err == nil || !strings.Contains(err.Error(), "max_jobs_per_owner") {
		t.Errorf("validate -2: %v", err)
	}
	if err := (&XMLConfig{MaxTextSize: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "max_text_size") {
		t.Errorf("validate: %v", err)
	}
}
