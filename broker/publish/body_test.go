package publish

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// draftB1 is the draft's notification B1 (section 5.1) with its
// placeholder values filled in and its mismatched tag fixed: four
// services of four kinds.
func draftB1(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../csbmsg/testdata/canonical/b1-notification.xml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestIngestBody(t *testing.T) {
	cat, _ := catalog.New(catalog.Options{Clock: clock.NewFake(t0)})
	defer cat.Close(context.Background())
	ing := NewIngester(IngestOptions{Catalog: cat})
	_ = ing.Configure(true, map[string]Policy{"a1b2c3d4": {Publishers: []string{"csp1"}, PushIDs: []string{"QQ6J3c"}}})

	r := ing.IngestBody(draftB1(t), "csp1", csbmsg.Options{})
	if r.Outcome != OutcomeApplied || r.Response.Status != 200 || !r.Full {
		t.Fatalf("%+v", r)
	}
	for _, k := range []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS} {
		if len(cat.Placeable(k)) != 1 {
			t.Errorf("kind %s: %d placeable", k, len(cat.Placeable(k)))
		}
	}
	// Strict mode refuses the example's several services with 420.
	r = ing.IngestBody(draftB1(t), "csp1", csbmsg.Options{Mode: csbmsg.Strict})
	if r.Response.Status != csbmsg.StatusUnsupported || r.Outcome != OutcomeInvalid {
		t.Fatalf("strict: %+v", r.Response)
	}
	cases := map[string]csbmsg.Status{
		`<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbnotification`:                                                                                                400,
		`<?xml version="1.0"?><csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbrequest><subscription id="x" seqnumber="1" action="create"/></csbrequest></csbpublish>`: 420,
		`<?xml version="1.0"?><csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbresponse status="200"/></csbpublish>`:                                                   420,
	}
	for body, want := range cases {
		if r := ing.IngestBody([]byte(body), "csp1", csbmsg.Options{}); r.Response.Status != want || r.Response.Reason == "" {
			t.Errorf("%.60s: got %d %q, want %d", body, r.Response.Status, r.Response.Reason, want)
		}
	}
	big := ing.IngestBody([]byte(strings.Repeat(" ", 2<<20)), "csp1", csbmsg.Options{})
	if !errors.Is(big.Err, csbmsg.ErrTooLarge) {
		t.Fatalf("oversized body: %v", big.Err)
	}
	out, err := r.Marshal()
	if err != nil || !strings.Contains(string(out), "<csbresponse") {
		t.Fatalf("marshal: %v %s", err, out)
	}
}

func TestHTTPSender(t *testing.T) {
	var got *csbmsg.Publish
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != csbmsg.PublishMediaType ||
			r.Header.Get("Accept") != csbmsg.PublishMediaType {
			http.Error(w, "bad request line", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		p, err := csbmsg.ParsePublish(body, csbmsg.Options{Mode: csbmsg.Strict})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = p
		if p.Request.Subscription.ID == "denied" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/csb-publish+xml;charset=ISO-8859-1")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">
        <csbresponse status="200" reason="OK: Request accepted"/>
</csbpublish>`)
	}))
	defer srv.Close()
	cfg := SubscriptionConfig{ProviderID: "p", URL: srv.URL, Client: srv.Client()}
	req := &csbmsg.PublishRequest{Subscription: csbmsg.Subscription{ID: "p0T65U", SeqNumber: 1, Action: csbmsg.ActionCreate, Expires: u64(600), Frequency: u64(20)}}
	resp, err := HTTPSender{}.Send(context.Background(), cfg, req)
	if err != nil || resp.Status != 200 || resp.Reason != "OK: Request accepted" {
		t.Fatalf("%+v %v", resp, err)
	}
	if s := got.Request.Subscription; s.ID != "p0T65U" || *s.Expires != 600 || *s.Frequency != 20 {
		t.Fatalf("provider received %+v", s)
	}
	req.Subscription.ID = "denied"
	_, err = HTTPSender{}.Send(context.Background(), cfg, req)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("HTTP 401 not reported: %v", err)
	}
}

// TestAppliedAnswerIsShared: the answer to an applied notification is
// encoded once and is the same document a fresh encoding gives; other
// answers are encoded each time.
func TestAppliedAnswerIsShared(t *testing.T) {
	applied := Result{Response: csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: reasonApplied}}
	a, err := applied.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := marshalResponse(applied.Response)
	b, _ := applied.Marshal()
	if string(a) != string(fresh) || &a[0] != &b[0] {
		t.Fatalf("applied answer: %s vs fresh %s (shared: %v)", a, fresh, &a[0] == &b[0])
	}
	other := Result{Response: csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: "OK: duplicate seqnumber 3 already applied"}}
	o, _ := other.Marshal()
	if !strings.Contains(string(o), "duplicate seqnumber 3") {
		t.Fatalf("other answer: %s", o)
	}
}
