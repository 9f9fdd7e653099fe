package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestConsumerAnswerWithProviderTextXMLCannotCarry: a provider's error
// text ends up in the reason of the job's answers; one holding a NUL or
// bytes that are not UTF-8 (an ISO-8859-1 error page: "\xfcberschritten")
// made MarshalConsumer refuse the answer, and the consumer got HTTP 500
// for its create, for every GET of the job and for its whole job list,
// until the job was purged a day later. Now the characters XML cannot
// carry become U+FFFD and the answers are the usual protocol ones.
func TestConsumerAnswerWithProviderTextXMLCannotCarry(t *testing.T) {
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "a"})
	cat.AddService("a", jobstest.VM("vm", 8, 32))
	ad := &jobstest.Adapter{Name: "a"}
	ad.SetFault(jobstest.Fault{Provision: errors.New("Kontingent \xfcberschritten\x00")})
	pl, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.New(jobs.Config{Store: new(store.Memory), Placer: pl, Logger: zap.NewNop(),
		Adapter:        func(string, catalog.Kind) (contract.Adapter, bool) { return ad, true },
		AttemptTimeout: 5 * time.Second, RespondWithin: 5 * time.Second, PollInterval: time.Millisecond, ReapInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{ConsumerPath: "/csb/consumer", logger: zap.NewNop()}
	call := func(method, path string) (*consumerCall, *httptest.ResponseRecorder) {
		w := httptest.NewRecorder()
		return &consumerCall{h: h, w: w, r: httptest.NewRequest(method, path, nil), repl: caddy.NewReplacer(), m: m, owner: "u"}, w
	}
	wantAnswer := func(what string, w *httptest.ResponseRecorder, err error) *csbmsg.ServiceResponse {
		t.Helper()
		if err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d, %v", what, w.Code, err)
		}
		msg, perr := csbmsg.ParseConsumer(w.Body.Bytes(), csbmsg.Options{})
		if perr != nil || msg.Response == nil {
			t.Fatalf("%s: answer does not parse: %v\n%s", what, perr, w.Body.Bytes())
		}
		if !strings.Contains(msg.Response.Reason, "Kontingent \ufffdberschritten\ufffd") {
			t.Fatalf("%s: reason %q", what, msg.Response.Reason)
		}
		return msg.Response
	}

	c, w := call(http.MethodPost, "/csb/consumer")
	res, err := m.Create(context.Background(), "u", jobstest.VMRequest(2, 4), jobs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := wantAnswer("create", w, c.answer(res, false)); got.Status != csbmsg.StatusUnableToFindResource {
		t.Fatalf("create: status %d", got.Status)
	}
	list, err := m.ListOwned(context.Background(), "u")
	if err != nil || len(list) != 1 {
		t.Fatalf("jobs %v, %v", list, err)
	}
	id := list[0].ID
	c, w = call(http.MethodGet, "/csb/consumer/"+id)
	j, err := m.Get(context.Background(), "u", id)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer("GET", w, c.answer(m.Answer(j), false))

	w = httptest.NewRecorder()
	err = h.serveJobList(w, httptest.NewRequest(http.MethodGet, "/csb/consumer", nil), m, "u")
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("job list: HTTP %d, %v", w.Code, err)
	}
	l, perr := csbmsg.ParseJobList(w.Body.Bytes(), csbmsg.Options{})
	if perr != nil || len(l.Responses) != 1 || !strings.Contains(l.Responses[0].Reason, "\ufffdberschritten") {
		t.Fatalf("job list: %v\n%s", perr, w.Body.Bytes())
	}
}
