package digest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// forward sends r the way a reverse proxy does: with its own client,
// never with the Transport that authorized it.
func forward(t *testing.T, r *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuthorizeFetchesAChallengeThenReusesIt(t *testing.T) {
	ts := newTestServer(t, nil)
	tr := &Transport{Username: "alice", Password: "wonderland"}
	for i := range 3 {
		r := newReq(t, "GET", ts.URL+"/obj?x=1", nil)
		ok, err := tr.Authorize(context.Background(), r)
		if err != nil || !ok {
			t.Fatalf("authorize %d: %v %v", i, ok, err)
		}
		if resp := forward(t, r); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	// One challenge (the HEAD that fetched it), then one nonce with
	// counts 1, 2, 3, which the server's replay cache accepts.
	if chal, ok := ts.counts(); chal != 1 || ok != 3 {
		t.Fatalf("%d challenges, %d accepted, want 1 and 3", chal, ok)
	}
}

func TestAuthorizeSharesTheTransportsSession(t *testing.T) {
	ts := newTestServer(t, nil)
	tr := &Transport{Username: "alice", Password: "wonderland"}
	if code, _ := get(t, &http.Client{Transport: tr}, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
	r := newReq(t, "PUT", ts.URL+"/obj", strings.NewReader("data"))
	if ok, err := tr.Authorize(context.Background(), r); err != nil || !ok {
		t.Fatalf("authorize: %v %v", ok, err)
	}
	if resp := forward(t, r); resp.StatusCode != 200 {
		t.Fatalf("forwarded: %d", resp.StatusCode)
	}
	if chal, ok := ts.counts(); chal != 1 || ok != 2 {
		t.Fatalf("%d challenges, %d accepted: the client's challenge was not reused", chal, ok)
	}
	// The transport's own next request follows on the same nonce.
	if code, _ := get(t, &http.Client{Transport: tr}, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
	if chal, _ := ts.counts(); chal != 1 {
		t.Fatalf("%d challenges after the transport's second request", chal)
	}
}

func TestAuthorizeRecoversFromAStaleNonce(t *testing.T) {
	ts := newTestServer(t, func(c *ServerConfig) { c.NonceLifetime = time.Minute })
	tr := &Transport{Username: "alice", Password: "wonderland"}
	r := newReq(t, "GET", ts.URL+"/", nil)
	if ok, err := tr.Authorize(context.Background(), r); err != nil || !ok {
		t.Fatal(ok, err)
	}
	forward(t, r)
	ts.f.clk.Add(2 * time.Minute)
	r = newReq(t, "GET", ts.URL+"/", nil)
	tr.Authorize(context.Background(), r)
	resp := forward(t, r)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.Join(resp.Header.Values("Www-Authenticate"), " "), "stale=true") {
		t.Fatalf("a stale nonce: %d %v", resp.StatusCode, resp.Header)
	}
	if !tr.Challenged(r, resp.Header.Values("Www-Authenticate")) {
		t.Fatal("the stale answer's challenge was not adopted")
	}
	tr.Authorize(context.Background(), r) // the retry
	if resp := forward(t, r); resp.StatusCode != 200 {
		t.Fatalf("after adopting the fresh nonce: %d", resp.StatusCode)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(open.Close)
	basic := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(basic.Close)
	tr := &Transport{Username: "alice", Password: "wonderland"}

	r := newReq(t, "GET", open.URL+"/", nil)
	if ok, err := tr.Authorize(context.Background(), r); ok || err != nil || r.Header.Get("Authorization") != "" {
		t.Errorf("an unprotected origin: %v %v %q", ok, err, r.Header.Get("Authorization"))
	}
	r = newReq(t, "GET", basic.URL+"/", nil)
	if ok, err := tr.Authorize(context.Background(), r); ok || err == nil || r.Header.Get("Authorization") != "" {
		t.Errorf("a Basic challenge: %v %v (want an error and no credentials)", ok, err)
	}
	hosts := &Transport{Username: "alice", Password: "wonderland", Hosts: []string{"elsewhere.example"}}
	if ok, err := hosts.Authorize(context.Background(), newReq(t, "GET", open.URL+"/", nil)); ok || err == nil {
		t.Errorf("a host outside Hosts: %v %v", ok, err)
	}
}

func TestAuthorizeAuthInt(t *testing.T) {
	ts := newTestServer(t, func(c *ServerConfig) { c.QOP = []string{QOPAuthInt} })
	tr := &Transport{Username: "alice", Password: "wonderland"}
	r := newReq(t, "PUT", ts.URL+"/obj", strings.NewReader("covered"))
	if ok, err := tr.Authorize(context.Background(), r); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if resp := forward(t, r); resp.StatusCode != 200 {
		t.Fatalf("auth-int with a replayable body: %d", resp.StatusCode)
	}
	streamed := newReq(t, "PUT", ts.URL+"/obj", strings.NewReader("streamed"))
	streamed.GetBody = nil
	if _, err := tr.Authorize(context.Background(), streamed); !errors.Is(err, ErrAuthIntBody) {
		t.Fatalf("auth-int with a streamed body: %v", err)
	}
	r = newReq(t, "GET", ts.URL+"/", nil)
	if ok, err := tr.Authorize(context.Background(), r); err != nil || !ok {
		t.Fatalf("auth-int without a body: %v %v", ok, err)
	}
	if resp := forward(t, r); resp.StatusCode != 200 {
		t.Fatalf("auth-int without a body: %d", resp.StatusCode)
	}
}
