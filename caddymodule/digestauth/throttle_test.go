package digestauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func TestDigestThrottleCaddyfile(t *testing.T) {
	var d HTTPDigestAuth
	err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`digest_auth {
		throttle {
			nonce_failures 2
			user_failures 8
			client_failures 20
			backoff 2s 10m
			forget_after 1h
			max_tracked 1000
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DigestThrottle{NonceFailures: 2, UserFailures: 8, ClientFailures: 20, Backoff: caddy.Duration(2 * time.Second),
		MaxBackoff: caddy.Duration(10 * time.Minute), ForgetAfter: caddy.Duration(time.Hour), MaxTracked: 1000}
	if d.Throttle == nil || *d.Throttle != want {
		t.Fatalf("got %+v, want %+v", d.Throttle, want)
	}
	d = HTTPDigestAuth{}
	if err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser("digest_auth {\n\tthrottle off\n}")); err != nil || d.Throttle == nil || !d.Throttle.Off {
		t.Fatalf("throttle off: %+v, %v", d.Throttle, err)
	}

	for _, tc := range []struct{ name, input, want string }{
		{"bad word", "throttle on", `want "throttle off" or a block`},
		{"zero", "throttle {\n\tuser_failures 0\n}", "user_failures \"0\": want a whole number from 1"},
		{"no count", "throttle {\n\tnonce_failures\n}", "wrong argument count"},
		{"bad backoff", "throttle {\n\tbackoff soon\n}", `backoff "soon"`},
		{"backoff three", "throttle {\n\tbackoff 1s 2s 3s\n}", "wrong argument count"},
		{"max below first", "throttle {\n\tbackoff 10s 1s\n}", "shorter than the first backoff"},
		{"forget below max", "throttle {\n\tbackoff 1s 1h\n\tforget_after 10m\n}", "shorter than the maximum backoff"},
		{"unknown", "throttle {\n\tlockout 1h\n}", `unrecognized option "lockout"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d HTTPDigestAuth
			err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser("digest_auth {\n" + tc.input + "\n}"))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("got %v, want an error with the line containing %q", err, tc.want)
			}
		})
	}
}

// secDigestAccounts returns alice's SHA-256 account in realm broker.
func secDigestAccounts() []DigestAccount {
	return []DigestAccount{{Username: "alice", HA1: map[string]string{"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland")}}}
}

// TestDigestThrottleThroughCaddyauth: the provider throttles by default
// and answers a throttled request with a 401, fresh challenges and
// Retry-After; the failure counts survive a reprovision (a reload) and
// take its new limits; "throttle off" lets every request be checked.
func TestDigestThrottleThroughCaddyauth(t *testing.T) {
	const key = "throttle-test-nonce-key-0123456789"
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	var at time.Time
	now := func() time.Time { return at }
	old := &HTTPDigestAuth{Realm: "broker", NonceKey: key, Accounts: secDigestAccounts(), clock: clock.Func(now)}
	if err := old.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	// After the replay cache's start: nonces issued before it are stale.
	at = time.Now().Add(time.Millisecond)
	srv := serveAuth(t, old)
	get := func(user, pass string) *http.Response {
		t.Helper()
		c := &http.Client{Transport: &digest.Transport{Username: user, Password: pass}}
		resp, err := c.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The default allowance is five failures of a user.
	for i := 0; i < 6; i++ {
		if resp := get("alice", "guess"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("guess %d: %d, Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	resp := get("alice", "wonderland")
	if resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "1" || len(resp.Header.Values("WWW-Authenticate")) != 1 {
		t.Fatalf("throttled: %d, Retry-After %q, challenges %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Values("WWW-Authenticate"))
	}

	// A reload keeps the counts (alice is still throttled) and takes the
	// new limits: the backoff now starts at a minute.
	neu := &HTTPDigestAuth{Realm: "broker", NonceKey: key, Accounts: secDigestAccounts(), clock: clock.Func(now),
		Throttle: &DigestThrottle{Backoff: caddy.Duration(time.Minute)}}
	if err := neu.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	old.Cleanup()
	srv = serveAuth(t, neu)
	if resp := get("alice", "wonderland"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("right after the reload: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	at = at.Add(time.Second)
	get("alice", "guess") // the 7th failure: 2 × 1m
	if resp := get("alice", "wonderland"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "120" {
		t.Fatalf("after the 7th failure: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// throttle off: the same counts no longer refuse.
	off := &HTTPDigestAuth{Realm: "broker", NonceKey: key, Accounts: secDigestAccounts(), clock: clock.Func(now), Throttle: &DigestThrottle{Off: true}}
	if err := off.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer off.Cleanup()
	srv = serveAuth(t, off)
	if resp := get("alice", "wonderland"); resp.StatusCode != 200 {
		t.Fatalf("throttle off: %d", resp.StatusCode)
	}
	neu.Cleanup()
}

// TestDigestInlineHA1Users: the users Provision warns about are those
// with an HA1 written as a literal, not as a placeholder.
func TestDigestInlineHA1Users(t *testing.T) {
	ha1 := digest.HA1(digest.SHA256, "alice", "broker", "wonderland")
	got := inlineHA1Users([]DigestAccount{
		{Username: "alice", HA1: map[string]string{"SHA-256": ha1, "MD5": "{env.ALICE_MD5}"}},
		{Username: "bob", HA1: map[string]string{"SHA-256": "{file./run/secrets/bob}"}},
		{Username: "carol", HA1: map[string]string{"MD5": "0f686881a388f066b6cd3fcac69b6e02"}},
	}, caddy.NewReplacer())
	if strings.Join(got, ",") != "alice,carol" {
		t.Fatalf("got %q", got)
	}
}

// TestDigestRefusalKeepsBodyForOtherProviders: the digest provider
// reads the body of a request it refuses (so the 401 does not wait on
// it) but hands it on whole, so that another provider of the same
// handler that lets the request in passes the body to the next handler.
func TestDigestRefusalKeepsBodyForOtherProviders(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("builder"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	basic := &caddyauth.HTTPBasicAuth{
		HashRaw:     json.RawMessage(`{"algorithm":"bcrypt"}`),
		AccountList: []caddyauth.Account{{Username: "bob", Password: string(hash)}},
	}
	if err := basic.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", Accounts: secDigestAccounts()})
	srv := serveAuthWith(t, map[string]caddyauth.Authenticator{"http_basic": basic, "http_digest": d})
	body := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB
	for i := 0; i < 5; i++ {                          // providers run in map order: both orders
		req, _ := http.NewRequest("POST", srv.URL+"/x", bytes.NewReader(body))
		req.SetBasicAuth("bob", "builder")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.HasSuffix(got, body) {
			t.Fatalf("basic with a body: %d, %d bytes", resp.StatusCode, len(got))
		}
	}
}

// lockedClock is a test clock safe to read from the server's goroutines.
type lockedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *lockedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDigestThrottleLockoutTransportKeepsWorking: before the fix, whoever
// knew the name alice could keep her locked out through the provider by
// sending one wrong response with a fresh nonce each time the backoff
// ended; her real client, with the right password, got 401 (Retry-After)
// for as long as the attack lasted. Now her real clients (this package's
// Transport, which reuses its nonce and follows nextnonce and
// stale=true) keep getting 200 for the hour of attack, from the same
// address as the attacker (so the address's backoff is passed too),
// across nonce renewals: one calling every 2 minutes (it follows
// nextnonce), one every 7 (its nonce has always expired: it is answered
// stale=true, with a nonce vouched for alice). The attacker's guesses are
// refused with Retry-After except once per backoff.
func TestDigestThrottleLockoutTransportKeepsWorking(t *testing.T) {
	clk := &lockedClock{}
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", NonceKey: "lockout-test-nonce-key-0123456789",
		Accounts: secDigestAccounts(), clock: clock.Func(clk.Now)})
	// After the replay cache's start: nonces issued before it are stale.
	clk.mu.Lock()
	clk.t = time.Now().Add(time.Millisecond)
	clk.mu.Unlock()
	srv := serveAuth(t, d)
	get := func(c *http.Client) *http.Response {
		t.Helper()
		resp, err := c.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	often := &http.Client{Transport: &digest.Transport{Username: "alice", Password: "wonderland"}}
	seldom := &http.Client{Transport: &digest.Transport{Username: "alice", Password: "wonderland"}}
	for _, c := range []*http.Client{often, seldom} {
		if resp := get(c); resp.StatusCode != 200 {
			t.Fatalf("before the attack: %d", resp.StatusCode)
		}
	}
	checked, refused := 0, 0
	for s := 0; s < 3600; s += 5 {
		// A fresh transport: no credentials, the 401's fresh nonce, a
		// wrong response.
		attacker := &http.Client{Transport: &digest.Transport{Username: "alice", Password: fmt.Sprintf("guess-%d", s)}}
		switch resp := get(attacker); {
		case resp.StatusCode != 401:
			t.Fatalf("second %d: the attacker got %d", s, resp.StatusCode)
		case resp.Header.Get("Retry-After") != "":
			refused++
		default:
			checked++
		}
		for c, every := range map[*http.Client]int{often: 120, seldom: 420} {
			if s%every != 60 {
				continue
			}
			if resp := get(c); resp.StatusCode != 200 {
				t.Fatalf("second %d: alice's client calling every %ds, holding a nonce that authenticated: %d, Retry-After %q",
					s, every, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		clk.Add(5 * time.Second)
	}
	// 5 free failures, the 6th, then one per backoff: 1s, 2s, …, 256s,
	// then one per 5 minutes: at most 27 checked guesses in the hour.
	if checked > 5+1+9+12 || refused < 600 {
		t.Fatalf("the attacker had %d guesses checked, %d refused", checked, refused)
	}
}
