package digest

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestAuthIntBodyTooLarge: a server offering auth and auth-int refuses
// qop=auth-int for a body longer than MaxAuthIntBody (it cannot check a
// digest it will not read). Before, the refusal carried the same
// challenges as a wrong password, so no client could tell, and this
// package's own Transport, which prefers auth-int, could never send a
// large body to a default http_digest route. The refusal now offers
// qop=auth alone, and Transport retries with it.
func TestAuthIntBodyTooLarge(t *testing.T) {
	f := newFixture(t, func(cfg *ServerConfig) { cfg.MaxAuthIntBody = 16 })
	c := f.base(t, SHA256)
	c.qop, c.body = QOPAuthInt, []byte(strings.Repeat("x", 17))
	res := f.auth(c)
	if res.OK || !errors.Is(res.Err, ErrBody) || res.Stale {
		t.Fatalf("oversized body: %+v", res)
	}
	for _, ch := range f.srv.ChallengesFor(res) {
		if !strings.Contains(ch, `qop="auth",`) {
			t.Fatalf("challenge answering an oversized auth-int body: %s", ch)
		}
	}
	// Any other refusal still offers both.
	c.qop, c.pass, c.nc = QOPAuthInt, "wrong", 2
	c.body = []byte("small")
	for _, ch := range f.srv.ChallengesFor(f.auth(c)) {
		if !strings.Contains(ch, `qop="auth,auth-int",`) {
			t.Fatalf("challenge answering a wrong password: %s", ch)
		}
	}

	ts := newTestServer(t, func(cfg *ServerConfig) { cfg.MaxAuthIntBody = 16 })
	cl := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
	// The first request of a client has no challenge yet: it is sent
	// without credentials, then with auth-int, then with auth.
	for _, body := range []string{strings.Repeat("x", 100), "small", strings.Repeat("y", 100)} {
		if code, got := get(t, cl, "POST", ts.URL+"/csb/publish", body); code != 200 || got != "hello alice" {
			t.Fatalf("body of %d bytes: %d %q", len(body), code, got)
		}
	}
	if ts.bodies[0] != strings.Repeat("x", 100) || ts.qops[QOPAuth] == 0 {
		t.Fatalf("bodies %q, qops %v", ts.bodies, ts.qops)
	}
	// A wrong password still ends after the usual retry.
	bad := &http.Client{Transport: &Transport{Username: "alice", Password: "nope"}}
	before, _ := ts.counts()
	if code, _ := get(t, bad, "POST", ts.URL+"/csb/publish", strings.Repeat("x", 100)); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if after, _ := ts.counts(); after-before > 3 {
		t.Fatalf("a wrong password took %d refusals", after-before)
	}
}
