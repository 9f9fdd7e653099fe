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

// oddGrant is a provider whose machines come back with a hostname
// holding a control character, and a resource URI that is no URI.
type oddGrant struct{ *jobstest.Adapter }

func (a oddGrant) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	res, err := a.Adapter.Provision(ctx, req)
	if res != nil && res.Granted.IaaS != nil && res.Granted.IaaS.Compute != nil {
		c := *res.Granted.IaaS.Compute
		host := "vm\x01.example"
		c.Hostname = &host
		iaas := *res.Granted.IaaS
		iaas.Compute = &c
		res.Granted.IaaS = &iaas
		res.URI = "mem://[no-ip-literal]/1"
	}
	return res, err
}

// TestConsumerAnswerWithGrantedValuesXMLCannotCarry: the granted
// resources and the resource URI of a job come from its provider's
// answers; one value the serialiser refuses (a hostname with a control
// character) made every answer about the job, and the job list, HTTP 500.
// The answer now goes without what cannot be written, and its reason says
// so; the job's id and status are always there.
func TestConsumerAnswerWithGrantedValuesXMLCannotCarry(t *testing.T) {
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "a"})
	cat.AddService("a", jobstest.VM("vm", 8, 32))
	ad := oddGrant{&jobstest.Adapter{Name: "a"}}
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
	w := httptest.NewRecorder()
	c := &consumerCall{h: h, w: w, r: httptest.NewRequest(http.MethodPost, "/csb/consumer", nil), repl: caddy.NewReplacer(), m: m, owner: "u"}
	res, err := m.Create(context.Background(), "u", jobstest.VMRequest(2, 4), jobs.CreateOptions{})
	if err != nil || res.Job == nil {
		t.Fatalf("create: %+v, %v", res, err)
	}
	if err := c.answer(res, true); err != nil || w.Code != http.StatusOK {
		t.Fatalf("create: HTTP %d, %v", w.Code, err)
	}
	msg, perr := csbmsg.ParseConsumer(w.Body.Bytes(), csbmsg.Options{})
	if perr != nil || msg.Response == nil || msg.Response.Status != csbmsg.StatusOK || msg.Response.JobInfo == nil ||
		msg.Response.JobInfo.JobID != res.Job.ID || msg.Response.IaaS != nil ||
		msg.Response.JobInfo.CloudServiceURI != "" ||
		!strings.Contains(msg.Response.Reason, "the granted resources and the Cloud-service-URI are not shown") {
		t.Fatalf("create answer: %v\n%s", perr, w.Body.Bytes())
	}

	w = httptest.NewRecorder()
	err = h.serveJobList(w, httptest.NewRequest(http.MethodGet, "/csb/consumer", nil), m, "u")
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("job list: HTTP %d, %v", w.Code, err)
	}
	l, perr := csbmsg.ParseJobList(w.Body.Bytes(), csbmsg.Options{})
	if perr != nil || len(l.Responses) != 1 || l.Responses[0].JobInfo == nil || l.Responses[0].JobInfo.JobID != res.Job.ID ||
		!strings.Contains(l.Responses[0].Reason, "not shown") {
		t.Fatalf("job list: %v\n%s", perr, w.Body.Bytes())
	}
}
