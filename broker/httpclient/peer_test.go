package httpclient

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// TestPeerPolicyKeepsCredentialsHome: with Config.Peer, a provider client
// sends its Basic credentials to the provider's origin only. A URL on
// another origin (an href from the provider's answer) gets no request, and
// a redirect to another origin is not followed, for Basic and bearer
// credentials alike.
func TestPeerPolicyKeepsCredentialsHome(t *testing.T) {
	var mu sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
			return
		}
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer home.Close()
	pol, err := peerurl.New(peerurl.Config{Origins: []string{home.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []Auth{
		{Scheme: SchemeBasic, Username: "broker", Password: "secret"},
		{Scheme: SchemeBearer, Token: "tok"},
	} {
		c, err := New(Config{Auth: auth, Peer: pol})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(home.URL + "/cep")
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: home: %v", auth.Scheme, err)
		}
		resp.Body.Close()
		if _, err := c.Get(other.URL + "/machines"); !errors.Is(err, peerurl.ErrHostNotAllowed) {
			t.Errorf("%s: another origin: %v", auth.Scheme, err)
		}
		if _, err := c.Get(home.URL + "/redirect"); !errors.Is(err, peerurl.ErrRedirect) {
			t.Errorf("%s: redirect to another origin: %v", auth.Scheme, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(elsewhere) != 0 {
		t.Fatalf("another origin received: %v", elsewhere)
	}
}
