package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRequestHeaders: the Client's header, the content type (only with
// a body) and Accept reach the peer, a call's own header overrides
// them, and a Client's header changed by one call's request does not
// change the next one's (the requests share its values).
func TestRequestHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	c := &Client{Header: http.Header{"X-Version": {"1.1.0"}}, Retries: -1}
	check := func(what string, h http.Header, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if h.Get(k) != v || (v != "" && len(h.Values(k)) != 1) {
				t.Errorf("%s: %s = %q, want %q", what, k, h.Values(k), v)
			}
		}
	}
	do := func(call Call) http.Header {
		t.Helper()
		call.Op, call.URL = "t", srv.URL
		if _, err := c.Do(context.Background(), call); err != nil {
			t.Fatal(err)
		}
		return <-got
	}
	check("GET", do(Call{Method: http.MethodGet, ContentType: "application/json", Accept: "application/json"}),
		map[string]string{"X-Version": "1.1.0", "Accept": "application/json", "Content-Type": ""})
	check("POST", do(Call{Method: http.MethodPost, Body: []byte("{}"), ContentType: "application/json", Accept: "application/json"}),
		map[string]string{"X-Version": "1.1.0", "Accept": "application/json", "Content-Type": "application/json"})
	check("override", do(Call{Method: http.MethodPost, Body: []byte("{}"), ContentType: "application/json", Header: http.Header{"X-Version": {"2"}}}),
		map[string]string{"X-Version": "2", "Content-Type": "application/json"})
	// A transport that adds to a header value of the request it was
	// handed (RoundTripper forbids it; a careless one may) changes its
	// own request only.
	c.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Header.Add("X-Version", "added")
		r.Header.Add("Accept", "added")
		return http.DefaultTransport.RoundTrip(r)
	})}
	for range 2 {
		h := do(Call{Method: http.MethodGet, Accept: "application/json"})
		if v := h.Values("X-Version"); len(v) != 2 || v[0] != "1.1.0" {
			t.Errorf("X-Version %q, want the client's value and the one added", v)
		}
		if v := h.Values("Accept"); len(v) != 2 || v[0] != "application/json" {
			t.Errorf("Accept %q, want the call's value and the one added", v)
		}
	}
	if v := c.Header.Values("X-Version"); len(v) != 1 {
		t.Errorf("the client's header became %q", v)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
