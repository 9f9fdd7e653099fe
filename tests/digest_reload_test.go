package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// recorder is a RoundTripper that counts 401s and keeps the last
// Authorization header that got a 200.
type recorder struct {
	mu           sync.Mutex
	unauthorized int
	stale        int
	lastGood     string
	lastPath     string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		r.unauthorized++
		if strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "stale=true") {
			r.stale++
		}
	case http.StatusOK:
		r.lastGood, r.lastPath = req.Header.Get("Authorization"), req.URL.RequestURI()
	}
	return resp, nil
}

func (r *recorder) staleCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stale
}

func (r *recorder) snapshot() (int, string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unauthorized, r.lastGood, r.lastPath
}

// TestDigestNonceSurvivesReload: a client keeps its nonce across "caddy
// reload" (no new 401), the nonce counts already used stay refused
// (the replay cache survived), and the generated nonce key lives in
// Caddy's storage. After a restart the key is the same, and nonces
// issued before the restart are renewed with stale=true, transparently.
func TestDigestNonceSurvivesReload(t *testing.T) {
	port := harness.FreePort(t)
	ha1 := digest.HA1(digest.SHA256, "alice", digestRealm, "wonderland")
	caddyfile := func(greeting string) string {
		return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}
http://127.0.0.1:%d {
	digest_auth %s {
		algorithms SHA-256
		user alice SHA-256 %s
	}
	respond "%s {http.auth.user.id}"
}
`, port, digestRealm, ha1, greeting)
	}
	p := harness.Start(t, caddyfile("before"))
	url := fmt.Sprintf("http://127.0.0.1:%d/jobs", port)
	rec := &recorder{}
	client := &http.Client{Transport: &digest.Transport{Username: "alice", Password: "wonderland", Base: rec}}
	get := func() string {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %q", resp.StatusCode, b)
		}
		return string(b)
	}
	if got := get(); got != "before alice" {
		t.Fatalf("got %q", got)
	}
	get()
	n401, usedAuth, usedPath := rec.snapshot()
	if n401 != 1 {
		t.Fatalf("%d challenges before the reload, want 1", n401)
	}
	keyFile := filepath.Join(p.DataDir, "caddy", "csb", "digest", "nonce_key")
	key1, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("generated nonce key not in storage: %v", err)
	}

	if err := p.Reload(caddyfile("after")); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "after alice" {
		t.Fatalf("the new config is not serving: %q", got)
	}
	if n, _, _ := rec.snapshot(); n != 1 {
		t.Fatalf("%d challenges after the reload: the client lost its nonce", n)
	}
	// Replaying a request made before the reload is refused.
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if code, chals := rawRequest(t, addr, usedPath, usedAuth); code != 401 || len(chals) != 1 {
		t.Fatalf("replay across the reload: %d %q", code, chals)
	}

	// Restart: same key from storage; the old nonce gets stale=true and
	// the client retries on its own with a new one.
	_, lastAuth, lastPath := rec.snapshot()
	p.Restart()
	if got := get(); got != "after alice" {
		t.Fatalf("after restart: %q", got)
	}
	if n, _, _ := rec.snapshot(); n != 2 {
		t.Fatalf("%d challenges after the restart, want 2 (one stale renewal)", n)
	}
	if rec.staleCount() != 1 {
		t.Fatalf("%d stale=true challenges, want 1", rec.staleCount())
	}
	key2, _ := os.ReadFile(keyFile)
	if string(key1) != string(key2) {
		t.Fatal("the nonce key changed across a restart")
	}
	// A request from before the restart cannot be replayed either.
	if code, _ := rawRequest(t, addr, lastPath, lastAuth); code != 401 {
		t.Fatalf("replay across the restart: %d", code)
	}
}

// TestDigestClusterSharesNonces runs two Caddy instances on one shared
// storage (Caddy's file system storage, as a cluster would share): the
// first generates the nonce key and stores it, the second loads it, so a
// nonce issued by one is accepted by the other.
func TestDigestClusterSharesNonces(t *testing.T) {
	shared := t.TempDir()
	ha1 := digest.HA1(digest.SHA256, "alice", digestRealm, "wonderland")
	start := func() (string, *harness.Process) {
		port := harness.FreePort(t)
		p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}
http://127.0.0.1:%d {
	digest_auth %s {
		user alice SHA-256 %s
	}
	respond "{http.auth.user.id}"
}
`, port, digestRealm, ha1), harness.Options{DataDir: shared})
		return fmt.Sprintf("127.0.0.1:%d", port), p
	}
	a, _ := start()
	b, _ := start()
	code, chals := rawRequest(t, a, "/x", "")
	if code != 401 || len(chals) != 1 {
		t.Fatalf("challenge from a: %d %q", code, chals)
	}
	cs, err := digest.ParseChallenges(chals[0])
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := cs[0].Get("nonce")
	opaque, _ := cs[0].Get("opaque")
	in := digest.Input{Algorithm: digest.SHA256, HA1: ha1, Nonce: nonce, Cnonce: "c", NC: "00000001", QOP: "auth", Method: "GET", URI: "/x"}
	h := fmt.Sprintf(`Digest username="alice", realm=%q, uri="/x", algorithm=SHA-256, nonce=%q, nc=00000001, cnonce="c", qop=auth, response=%q, opaque=%q`,
		digestRealm, nonce, in.Response(), opaque)
	if code, _ := rawRequest(t, b, "/x", h); code != 200 {
		t.Fatalf("instance b refused instance a's nonce: %d", code)
	}
}
