package caddymodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// consumerWorld is the csb handler over a job manager with two in-memory
// providers, a and b, each offering an 8-core machine, for tests that go
// through serveConsumer the way a request does.
type consumerWorld struct {
	h    *Handler
	m    *jobs.Manager
	a, b *jobstest.Adapter
}

func newConsumerWorld(t *testing.T, edit ...func(*jobs.Config)) *consumerWorld {
	t.Helper()
	cat := new(jobstest.Catalog)
	ads := map[string]*jobstest.Adapter{}
	for _, id := range []string{"a", "b"} {
		cat.AddProvider(catalog.ProviderEntry{ID: id})
		cat.AddService(id, jobstest.VM("vm", 8, 32))
		ads[id] = &jobstest.Adapter{Name: id}
	}
	pl, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.Config{Store: new(store.Memory), Placer: pl, Logger: zap.NewNop(),
		Adapter: func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			ad, ok := ads[id]
			return ad, ok
		},
		AttemptTimeout: 5 * time.Second, RespondWithin: 5 * time.Second, PollInterval: time.Millisecond, ReapInterval: time.Hour}
	for _, e := range edit {
		e(&cfg)
	}
	m, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	x := new(XMLConfig)
	x.provision(zap.NewNop())
	app := &App{XML: x, engine: &engine{consumer: &consumerEngine{jobs: m}},
		consumerView: &consumerView{cfg: &ConsumerConfig{Anonymous: AnonymousAllow}}}
	return &consumerWorld{h: &Handler{ConsumerPath: "/csb/consumer", logger: zap.NewNop(), app: app}, m: m, a: ads["a"], b: ads["b"]}
}

// consumerAnswer is what one request got: the HTTP status (that of the
// handler's error, if it returned one), the headers and the body.
type consumerAnswer struct {
	code int
	hdr  http.Header
	body string
	err  error
}

// do serves one request; header holds name, value pairs.
func (w *consumerWorld) do(method, path string, body io.Reader, header ...string) consumerAnswer {
	r := httptest.NewRequest(method, path, body)
	if body != nil {
		r.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{}))
	rec := httptest.NewRecorder()
	err := w.h.ServeHTTP(rec, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	a := consumerAnswer{code: rec.Code, hdr: rec.Header(), body: rec.Body.String(), err: err}
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		a.code = he.StatusCode
	}
	return a
}

// csb is the protocol status of an answer (0 when it carries none).
func (a consumerAnswer) csb() string { return a.hdr.Get("Csb-Status") }

func consumerDoc(inner string) string {
	return `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest>` +
		inner + `</CloudServiceRequest></csbconsumer>`
}

const smallVM = `<IaaS><compute><cores>2</cores><memory>4</memory></compute></IaaS>`

// TestIdempotencyKeyCoversCreateHeaders: a retry with the same
// Idempotency-Key and body but other create headers (another lease,
// other providers, another price limit, a callback) was answered 200 with
// the job the first request made, on terms it did not ask for, and a
// callback it named was silently dropped. Such a retry is refused 422 as
// one with another body is; a true retry still gets the first job.
func TestIdempotencyKeyCoversCreateHeaders(t *testing.T) {
	w := newConsumerWorld(t)
	first := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)),
		"Idempotency-Key", "k1", "Csb-Provider", "a, b", "Csb-Lease", "600")
	id := first.hdr.Get("Csb-Job-Id")
	if first.err != nil || first.csb() != "200" || id == "" {
		t.Fatalf("create: %d %v\n%s", first.code, first.err, first.body)
	}
	same := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)),
		"Idempotency-Key", "k1", "Csb-Provider", "b,a", "Csb-Lease", " 600")
	if same.err != nil || same.hdr.Get("Csb-Job-Id") != id {
		t.Fatalf("retry: %d %v, job %q, want %q", same.code, same.err, same.hdr.Get("Csb-Job-Id"), id)
	}
	for name, hdr := range map[string][]string{
		"other providers": {"Csb-Provider", "b", "Csb-Lease", "600"},
		"other lease":     {"Csb-Provider", "a,b", "Csb-Lease", "900"},
		"no lease":        {"Csb-Provider", "a,b"},
		"a price limit":   {"Csb-Provider", "a,b", "Csb-Lease", "600", "Csb-Max-Price", "1"},
	} {
		got := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)), append([]string{"Idempotency-Key", "k1"}, hdr...)...)
		if got.code != http.StatusUnprocessableEntity {
			t.Errorf("%s: HTTP %d (job %q), want 422", name, got.code, got.hdr.Get("Csb-Job-Id"))
		}
	}
	if n := len(w.a.Live()) + len(w.b.Live()); n != 1 {
		t.Fatalf("%d resources, want 1", n)
	}

	// The callback and its secret (never stored as such) are covered too.
	scope := func(hdr ...string) string {
		r := httptest.NewRequest(http.MethodPost, "/csb/consumer", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return (&consumerCall{r: r}).idempotencyScope()
	}
	const secret = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj"
	plain, cb := scope(), scope(headerCallback, "https://hooks.example/a")
	withSecret := scope(headerCallback, "https://hooks.example/a", headerCallbackSecret, secret)
	if plain != "" || cb == plain || withSecret == cb || scope(headerCallback, "https://hooks.example/b") == cb ||
		strings.Contains(withSecret, secret) {
		t.Fatalf("scopes: %q, %q, %q", plain, cb, withSecret)
	}
}

// unsized hides the length of a body, as a chunked HTTP/1.1 body or an
// HTTP/2 one without Content-Length comes: ContentLength -1.
func unsized(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

// TestPutEmptyBodyWithoutLength: an empty PUT renews the job's lease. One
// sent without a Content-Length (chunked, or an HTTP/2 PUT whose empty
// DATA frame ends the stream) was parsed as a message and answered 400
// "not well-formed: no root element". A body without a length that is
// not empty is still read whole.
func TestPutEmptyBodyWithoutLength(t *testing.T) {
	w := newConsumerWorld(t)
	created := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)))
	id := created.hdr.Get("Csb-Job-Id")
	if created.csb() != "200" || id == "" {
		t.Fatalf("create: %d %v\n%s", created.code, created.err, created.body)
	}
	got := w.do(http.MethodPut, "/csb/consumer/"+id, unsized(""))
	if got.err != nil || got.csb() != "200" || !strings.Contains(got.body, "lease renewed") {
		t.Fatalf("empty PUT without length: %d %v\n%s", got.code, got.err, got.body)
	}
	got = w.do(http.MethodPut, "/csb/consumer/"+id, unsized(consumerDoc(`<IaaS><compute><cores>4</cores></compute></IaaS>`)))
	if got.err != nil || got.csb() != "200" || !strings.Contains(got.body, "<cores>4</cores>") {
		t.Fatalf("PUT without length: %d %v\n%s", got.code, got.err, got.body)
	}
}

// TestCopyMoveRefuseWhatTheyDrop: COPY and MOVE take the job's own
// request and read no body; one sent with a <CloudServiceRequest> (a copy
// with more cores, say) was answered 200 with a copy of the job as it
// was. And an Idempotency-Key made no retry safe: a retried COPY made a
// second job, a retried MOVE moved the job back. Both are refused 400,
// and nothing is done; a COPY or MOVE without either goes through.
func TestCopyMoveRefuseWhatTheyDrop(t *testing.T) {
	w := newConsumerWorld(t)
	created := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)))
	id := created.hdr.Get("Csb-Job-Id")
	if created.csb() != "200" || id == "" {
		t.Fatalf("create: %d %v\n%s", created.code, created.err, created.body)
	}
	bigger := consumerDoc(`<IaaS><compute><cores>8</cores></compute></IaaS>`)
	for _, method := range []string{"COPY", "MOVE"} {
		for name, c := range map[string]struct {
			body   io.Reader
			header []string
		}{
			"body":            {strings.NewReader(bigger), nil},
			"unsized body":    {unsized(bigger), nil},
			"Idempotency-Key": {nil, []string{"Idempotency-Key", "k"}},
		} {
			got := w.do(method, "/csb/consumer/"+id, c.body, c.header...)
			if got.code != http.StatusBadRequest || got.csb() != "" {
				t.Errorf("%s with %s: HTTP %d, Csb-Status %q, want 400\n%s", method, name, got.code, got.csb(), got.body)
			}
		}
	}
	if len(w.a.Live()) != 1 || len(w.b.Live()) != 0 {
		t.Fatalf("resources at a %v, at b %v: something was copied or moved", w.a.Live(), w.b.Live())
	}
	got := w.do("COPY", "/csb/consumer/"+id, unsized(""))
	if got.err != nil || got.csb() != "200" || len(w.b.Live()) != 1 {
		t.Fatalf("COPY with an empty body: %d %v\n%s", got.code, got.err, got.body)
	}
}

// TestAcceptMostSpecificRangeDecides: a media type that the Accept header
// refuses by name (q=0) is refused even when a wildcard beside it accepts
// everything (RFC 9110 section 12.5.1: the most specific range decides).
// "application/csb-consumer+xml;q=0, */*" was taken as accepting the
// consumer type: the create went through and its answer came in the type
// the client had refused, instead of 406 before anything was done.
func TestAcceptMostSpecificRangeDecides(t *testing.T) {
	for _, tc := range []struct {
		accept string
		ok     bool
	}{
		{"application/csb-consumer+xml;q=0, */*", false},
		{"*/*, application/csb-consumer+xml;q=0", false},
		{"application/*;q=0, */*", false},
		{"application/csb-consumer+xml;q=0, application/xml", false},
		{"application/*;q=0, application/csb-consumer+xml;q=0.2", true},
		{"*/*;q=0, application/xml", true}, // XML in general, the type not refused by name
		{"application/csb-consumer+xml, application/csb-consumer+xml;q=0", true},
		{"text/html, */*;q=0.1", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/csb/consumer/x", nil)
		r.Header.Set("Accept", tc.accept)
		if got := checkAccept(r, csbmsg.ConsumerMediaType) == nil; got != tc.ok {
			t.Errorf("Accept %q: accepted %v, want %v", tc.accept, got, tc.ok)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/csb/consumer?catalog", nil)
	r.Header.Set("Accept", "application/json;q=0, */*")
	var he caddyhttp.HandlerError
	if err := acceptsJSON(r); !errors.As(err, &he) || he.StatusCode != http.StatusNotAcceptable {
		t.Errorf("JSON refused by name: %v, want 406", err)
	}

	w := newConsumerWorld(t)
	got := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)),
		"Accept", "application/csb-consumer+xml;q=0, */*")
	if got.code != http.StatusNotAcceptable || len(w.a.Live())+len(w.b.Live()) != 0 {
		t.Fatalf("create refusing the answer's type: HTTP %d, resources %v %v", got.code, w.a.Live(), w.b.Live())
	}
}

// TestIdempotentRetryWhileFirstRuns: a retry with the same
// Idempotency-Key that arrives while the first create still runs (a
// client that gave up waiting) waits for it at most jobs' lock_wait;
// then it was answered HTTP 500. It is a conflict, not a server fault:
// 409, as the IETF Idempotency-Key draft answers a request whose
// original is still being processed. The first create goes on, and the
// next retry gets its job.
func TestIdempotentRetryWhileFirstRuns(t *testing.T) {
	w := newConsumerWorld(t, func(c *jobs.Config) { c.LockWait = 20 * time.Millisecond })
	block, started := make(chan struct{}), make(chan struct{})
	w.a.SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	first := make(chan consumerAnswer, 1)
	go func() {
		first <- w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)), "Idempotency-Key", "k")
	}()
	<-started
	retry := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)), "Idempotency-Key", "k")
	close(block)
	got := <-first
	if retry.code != http.StatusConflict {
		t.Errorf("retry during the create: HTTP %d (%v), want 409", retry.code, retry.err)
	}
	id := got.hdr.Get("Csb-Job-Id")
	if got.err != nil || got.csb() != "200" || id == "" {
		t.Fatalf("first create: %d %v\n%s", got.code, got.err, got.body)
	}
	again := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)), "Idempotency-Key", "k")
	if again.err != nil || again.hdr.Get("Csb-Job-Id") != id || len(w.a.Live())+len(w.b.Live()) != 1 {
		t.Fatalf("retry after: %d %v, job %q (want %q), resources %v %v", again.code, again.err, again.hdr.Get("Csb-Job-Id"), id, w.a.Live(), w.b.Live())
	}
}

// TestChangesRefusePlacementHeaders: an update or a removal places
// nothing, so the placement headers sent with one (Csb-Provider,
// Csb-Max-Price) were dropped while the answer said 200. They are refused
// with 400 before anything is done, on PUT, DELETE and POST <job-info>.
func TestChangesRefusePlacementHeaders(t *testing.T) {
	w := newConsumerWorld(t)
	created := w.do(http.MethodPost, "/csb/consumer", strings.NewReader(consumerDoc(smallVM)))
	id := created.hdr.Get("Csb-Job-Id")
	if created.csb() != "200" || id == "" {
		t.Fatalf("create: %d %v\n%s", created.code, created.err, created.body)
	}
	jobInfo := func(action string) io.Reader {
		return strings.NewReader(consumerDoc(`<job-info><job-id>` + id + `</job-id><action>` + action + `</action></job-info>`))
	}
	for _, h := range [][]string{{"Csb-Provider", "b"}, {"Csb-Max-Price", "0.01"}} {
		for name, call := range map[string]func() consumerAnswer{
			"PUT":         func() consumerAnswer { return w.do(http.MethodPut, "/csb/consumer/"+id, nil, h...) },
			"DELETE":      func() consumerAnswer { return w.do(http.MethodDelete, "/csb/consumer/"+id, nil, h...) },
			"POST update": func() consumerAnswer { return w.do(http.MethodPost, "/csb/consumer", jobInfo("update"), h...) },
			"POST remove": func() consumerAnswer { return w.do(http.MethodPost, "/csb/consumer", jobInfo("remove"), h...) },
		} {
			got := call()
			if got.code != http.StatusBadRequest || got.csb() != "" || got.err == nil || !strings.Contains(got.err.Error(), h[0]) {
				t.Errorf("%s with %s: HTTP %d, Csb-Status %q, want 400 naming the header (%v)", name, h[0], got.code, got.csb(), got.err)
			}
		}
	}
	if len(w.a.Live()) != 1 {
		t.Fatalf("resources at a %v: the job was changed or removed", w.a.Live())
	}
}
