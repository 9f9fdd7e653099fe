package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestRedirectDoesNotTurnDeleteIntoGet: Go's client follows a 301, 302
// or 303 answer to a DELETE or PUT with a GET of the new location. A
// provider (or a proxy in front of it) that redirects a DELETE, for
// instance to add a trailing slash, would then have its GET's 200 taken
// for the delete's success: Remove reports done while the resource
// stays. The redirect must come back as the call's (non-2xx) answer,
// and no GET must be sent.
func TestRedirectDoesNotTurnDeleteIntoGet(t *testing.T) {
	for _, method := range []string{http.MethodDelete, http.MethodPut, http.MethodPost} {
		for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
			if method == http.MethodPost && code == http.StatusSeeOther {
				continue // the POST's answer is at the new location (TestRedirectKeepsSameMethod)
			}
			var gets atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/thing" {
					http.Redirect(w, r, "/thing/", code)
					return
				}
				if r.Method == http.MethodGet {
					gets.Add(1)
				}
				w.WriteHeader(http.StatusOK)
			}))
			c := &Client{Sleep: noWait}
			_, err := c.Do(context.Background(), Call{Op: "t", Method: method, URL: srv.URL + "/thing"})
			srv.Close()
			if err == nil || contract.KindOf(err) == "" {
				t.Errorf("%s answered %d: err = %v, want an *contract.Error", method, code, err)
			}
			if gets.Load() != 0 {
				t.Errorf("%s answered %d: the redirect was followed with a GET", method, code)
			}
		}
	}
}

// TestRedirectKeepsSameMethod: a GET redirect, a 307 that repeats the
// method and body, and a 303 to a POST (whose answer is then at the new
// location) are still followed.
func TestRedirectKeepsSameMethod(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/thing" {
			http.Redirect(w, r, "/thing/", http.StatusTemporaryRedirect)
			return
		}
		if r.URL.Path == "/created" {
			http.Redirect(w, r, "/thing/", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := &Client{Sleep: noWait}
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPut} {
		resp, err := c.Do(context.Background(), Call{Op: "t", Method: method, URL: srv.URL + "/thing", Body: []byte("x")})
		if err != nil || resp.Status != http.StatusNoContent {
			t.Errorf("%s through a 307: %v %+v", method, err, resp)
		}
	}
	resp, err := c.Do(context.Background(), Call{Op: "t", Method: http.MethodPost, URL: srv.URL + "/created", Body: []byte("x")})
	if err != nil || resp.Status != http.StatusNoContent {
		t.Errorf("POST through a 303: %v %+v", err, resp)
	}
}

// TestKeptClientFollowsHTTP: the KeepMethod copy a Client makes once
// still applies, call after call, both the method rule and the redirect
// check of the client it was made from (the peer URL policy); and a
// Client given another client (Slot.Tune, a reload) calls through that
// one from its next call.
func TestKeptClientFollowsHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/thing" {
			http.Redirect(w, r, "/thing/", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var refusedA, checkedB atomic.Int32
	a := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		refusedA.Add(1)
		return errors.New("refused by the peer policy")
	}}
	b := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		checkedB.Add(1)
		return nil
	}}
	c := &Client{HTTP: a, Retries: -1}
	for range 2 {
		if _, err := c.Do(context.Background(), Call{Op: "t", Method: http.MethodGet, URL: srv.URL + "/thing"}); err == nil {
			t.Fatal("a redirect the client's policy refuses was followed")
		}
	}
	if refusedA.Load() != 2 {
		t.Fatalf("the policy judged %d redirects of 2", refusedA.Load())
	}
	c.HTTP = b
	for range 2 {
		if resp, err := c.Do(context.Background(), Call{Op: "t", Method: http.MethodGet, URL: srv.URL + "/thing"}); err != nil || resp.Status != http.StatusNoContent {
			t.Fatalf("GET through the new client: %v %+v", err, resp)
		}
		if _, err := c.Do(context.Background(), Call{Op: "t", Method: http.MethodDelete, URL: srv.URL + "/thing"}); contract.KindOf(err) == "" {
			t.Fatalf("a DELETE's 302 was followed: %v", err)
		}
	}
	if refusedA.Load() != 2 || checkedB.Load() != 2 {
		t.Errorf("redirects judged by the old client %d (want 2), by the new %d (want 2)", refusedA.Load(), checkedB.Load())
	}
}
