package digest

import (
	"errors"
	"testing"
	"time"
)

// provenClient knows alice's password and keeps its nonce as Transport
// does: a new count for each request, and one retry with the challenge
// of a stale=true refusal. followNext adopts the nextnonce of
// Authentication-Info (Transport does; curl-like clients do not).
type provenClient struct {
	f          *fixture
	c          cred
	client     string
	followNext bool
	nonces     map[string]bool // every nonce used
	stales     int             // stale=true refusals answered
}

func newProvenClient(t *testing.T, f *fixture, client string, followNext bool) *provenClient {
	c := f.base(t, SHA256)
	c.nc = 0
	return &provenClient{f: f, c: c, client: client, followNext: followNext, nonces: map[string]bool{}}
}

// do sends one request, retrying once on stale=true, and returns the
// last result.
func (p *provenClient) do(t *testing.T) Result {
	t.Helper()
	for try := 0; ; try++ {
		p.c.nc++
		p.nonces[p.c.nonce] = true
		res := p.f.authFrom(p.c, p.client)
		if res.OK {
			if next := infoParam(t, res.AuthenticationInfo, "nextnonce"); next != "" && p.followNext {
				p.c.nonce, p.c.nc = next, 0
			}
			return res
		}
		if !res.Stale || try > 0 {
			return res
		}
		p.stales++
		p.c.nonce, p.c.nc = challengeNonce(t, p.f.srv.ChallengesFor(res)), 0
	}
}

// infoParam returns a parameter of an Authentication-Info value.
func infoParam(t *testing.T, field, name string) string {
	t.Helper()
	params, err := parseParams(field, nil)
	if err != nil {
		t.Fatalf("Authentication-Info %q: %v", field, err)
	}
	v, _ := getParam(params, name)
	return v
}

// challengeNonce returns the nonce of a 401's challenges.
func challengeNonce(t *testing.T, fields []string) string {
	t.Helper()
	cs, err := ParseChallenges(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := cs[0].Get("nonce")
	return n
}

// lockoutAttack runs, for d of simulated time in steps of one second, an
// attacker who knows the name alice but not her password: every second,
// one wrong response with a fresh nonce, so that a guess lands as soon as
// each backoff ends. Every minute, each client in legit makes a request
// and must get in. It returns how many of the attacker's guesses were
// checked (the others were refused by the throttle, unchecked).
func lockoutAttack(t *testing.T, f *fixture, d time.Duration, attacker string, legit ...*provenClient) (checked int) {
	t.Helper()
	for s := 0; s < int(d/time.Second); s++ {
		switch res := f.guess(t, "alice", attacker, s); {
		case errors.Is(res.Err, ErrResponse):
			checked++
		case errors.Is(res.Err, ErrThrottled):
		default:
			t.Fatalf("second %d: the attacker's guess: %v", s, res.Err)
		}
		if s%60 == 30 {
			for i, p := range legit {
				if res := p.do(t); !res.OK {
					t.Fatalf("second %d: legitimate client %d (following nextnonce %v), holding a nonce that authenticated, refused: %v, retry after %v",
						s, i, p.followNext, res.Err, res.RetryAfter)
				}
			}
		}
		f.clk.Add(time.Second)
	}
	return checked
}

// TestThrottleLockoutProvenClientKeepsWorking: before the fix, an
// attacker who knows a user name and sends one wrong response whenever
// the backoff ends keeps that user refused for as long as it likes (here
// three hours, about one request every 5 minutes once the backoff is at
// its maximum), the real client with the right password included
// (ErrUserThrottled, its response never checked). Now a client whose
// nonce authenticated alice keeps getting in through Authenticate, across
// nonce renewals: one following nextnonce (vouched for alice), one
// answering stale=true (the new challenge's nonce vouched for alice).
// Both share their address with nobody; the attacker's own address and
// alice's name are throttled throughout.
//
// The attacker's guesses stay throttled: it gets exactly as many checked
// guesses as the same attack on a server without legitimate clients,
// which is what the backoff allowed before the fix; a client with the
// right password but a fresh nonce (no proof) is refused like the
// attacker; and the tables stay within MaxTracked.
func TestThrottleLockoutProvenClientKeepsWorking(t *testing.T) {
	cfg := ThrottleConfig{MaxTracked: 64}
	const attack = 3 * time.Hour
	f, th := newThrottled(t, cfg)
	follow := newProvenClient(t, f, "192.0.2.10", true)
	stale := newProvenClient(t, f, "192.0.2.11", false)
	for _, p := range []*provenClient{follow, stale} {
		if res := p.do(t); !res.OK {
			t.Fatalf("before the attack: %v", res.Err)
		}
	}
	checked := lockoutAttack(t, f, attack, "203.0.113.66", follow, stale)

	// The legitimate clients went through several nonces: the pass
	// followed them from one nonce to the next.
	if len(follow.nonces) < 10 || len(stale.nonces) < 10 || stale.stales < 10 {
		t.Fatalf("nonces used: %d following nextnonce, %d answering stale=true (%d stale refusals); want renewals",
			len(follow.nonces), len(stale.nonces), stale.stales)
	}

	// The same attack on its own: as many checked guesses. The bound is
	// the allowance (5), then one per backoff (1s, 2s, …, 256s, then
	// 300s each).
	g, _ := newThrottled(t, cfg)
	if alone := lockoutAttack(t, g, attack, "203.0.113.66"); checked != alone {
		t.Fatalf("the attacker got %d checked guesses alongside legitimate clients, %d alone", checked, alone)
	}
	if bound := 5 + 9 + int((attack-511*time.Second)/(5*time.Minute)) + 1; checked > bound {
		t.Fatalf("%d checked guesses in %v, want at most %d", checked, attack, bound)
	}

	// The right password with a fresh nonce proves nothing yet: refused,
	// unchecked, like the attacker.
	f.guess(t, "alice", "203.0.113.66", -1) // make sure a backoff runs
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.12"); !errors.Is(res.Err, ErrUserThrottled) {
		t.Fatalf("a fresh nonce with the right password while alice is throttled: %v", res.Err)
	}
	// Nor does the pass free the attacker's address for other names.
	c := f.base(t, SHA256)
	c.user, c.pass = "J\u00e4s\u00f8n Doe", "Secret, or not?"
	if res := f.authFrom(c, "203.0.113.66"); !errors.Is(res.Err, ErrClientThrottled) {
		t.Fatalf("another user from the attacker's address: %v", res.Err)
	}
	users, clients, nonces := th.Len()
	if users != 1 || clients != 1 || nonces > 64 {
		t.Fatalf("tracked %d users, %d clients, %d nonces; want 1, 1, at most 64", users, clients, nonces)
	}
}

// throttleAlice makes alice's name throttled with wrong responses from
// 203.0.113.1, for the backoff of cfg.
func throttleAlice(t *testing.T, f *fixture, th *Throttle) {
	t.Helper()
	for i := 0; i <= th.Config().UserFailures; i++ {
		f.guess(t, "alice", "203.0.113.1", i)
	}
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.99"); !errors.Is(res.Err, ErrUserThrottled) {
		t.Fatalf("alice not throttled: %v", res.Err)
	}
}

// TestThrottleProvenNonceWrongResponseUsesItUp: a nonce that passes the
// backoff is no free guess. A wrong response on it is checked (before the
// fix it was refused, unchecked, like everything else), counted against
// alice (her backoff doubles) and uses the nonce up even though the
// nonce's budget is 3: from then on it is refused without being checked,
// the right password included, during the backoff and after it.
func TestThrottleProvenNonceWrongResponseUsesItUp(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{NonceFailures: 3, ClientFailures: 1000, Backoff: time.Minute})
	c := f.base(t, SHA256)
	if res := f.authFrom(c, "192.0.2.10"); !res.OK {
		t.Fatal(res.Err)
	}
	throttleAlice(t, f, th) // 6 failures: 1 minute
	c.nc = 2
	if res := f.authFrom(c, "192.0.2.10"); !res.OK {
		t.Fatalf("the right password on the nonce that authenticated alice: %v", res.Err)
	}
	c.nc, c.pass = 3, "guess"
	if res := f.authFrom(c, "192.0.2.10"); !errors.Is(res.Err, ErrResponse) {
		t.Fatalf("a wrong response on a proven nonce: %v, want it checked (ErrResponse)", res.Err)
	}
	// Counted: the 7th failure doubles the backoff.
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.99"); !errors.Is(res.Err, ErrUserThrottled) || res.RetryAfter != 2*time.Minute {
		t.Fatalf("after the wrong response: %v, retry after %v; want 2m", res.Err, res.RetryAfter)
	}
	// Used up: refused unchecked, the right password too, a wrong one
	// again not counted.
	for i, pass := range []string{"wonderland", "guess-again"} {
		c.nc, c.pass = uint32(4+i), pass
		if res := f.authFrom(c, "192.0.2.10"); !errors.Is(res.Err, ErrUserThrottled) {
			t.Fatalf("%s on the used-up nonce: %v", pass, res.Err)
		}
	}
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.99"); res.RetryAfter != 2*time.Minute {
		t.Fatalf("refusals on the used-up nonce were counted: retry after %v", res.RetryAfter)
	}
	f.clk.Add(2 * time.Minute)
	c.nc, c.pass = 6, "wonderland"
	if res := f.authFrom(c, "192.0.2.10"); !errors.Is(res.Err, ErrNonceExhausted) {
		t.Fatalf("the used-up nonce after the backoff: %v, want ErrNonceExhausted", res.Err)
	}
	// A fresh nonce works after the backoff, as always.
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.10"); !res.OK {
		t.Fatalf("fresh nonce after the backoff: %v", res.Err)
	}
}

// TestThrottleProofIsPerUser: a nonce that authenticated another user, or
// that the server vouched for another user, does not pass alice's
// backoff, even with alice's right password; one vouched for alice does
// (before the fix nothing passed).
func TestThrottleProofIsPerUser(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{ClientFailures: 1000, Backoff: time.Minute})
	jason := f.base(t, SHA256)
	jason.user, jason.pass = "J\u00e4s\u00f8n Doe", "Secret, or not?"
	if res := f.authFrom(jason, "192.0.2.20"); !res.OK {
		t.Fatal(res.Err)
	}
	throttleAlice(t, f, th)
	now := f.clk.Now()
	nonces := f.srv.cfg.Nonces
	for name, nonce := range map[string]string{
		"authenticated J\u00e4s\u00f8n": jason.nonce,
		"vouched for J\u00e4s\u00f8n":   nonces.IssueFor(now, f.account("J\u00e4s\u00f8n Doe")),
		"vouched for alicE":             nonces.IssueFor(now, "alicE"),
		"plain":                         nonces.Issue(now),
	} {
		c := f.base(t, SHA256)
		c.nonce = nonce
		if res := f.authFrom(c, "192.0.2.20"); !errors.Is(res.Err, ErrUserThrottled) {
			t.Errorf("alice's right password on a nonce %s: %v, want ErrUserThrottled", name, res.Err)
		}
	}
	c := f.base(t, SHA256)
	c.nonce = nonces.IssueFor(now, f.account("alice"))
	if res := f.authFrom(c, "192.0.2.20"); !res.OK {
		t.Fatalf("alice's right password on a nonce vouched for alice: %v", res.Err)
	}
	// Unknown names never pass, even with a nonce vouched for them (a
	// user removed by a reload).
	for i := 0; i <= th.Config().UserFailures; i++ {
		f.guess(t, "mallory", "203.0.113.1", i)
	}
	c.user, c.nonce, c.nc = "mallory", nonces.IssueFor(now, "mallory"), 1
	if res := f.authFrom(c, "192.0.2.20"); !errors.Is(res.Err, ErrUserThrottled) {
		t.Fatalf("an unknown name on a nonce vouched for it: %v, want ErrUserThrottled", res.Err)
	}
}

// TestThrottleProvenNonceSurvivesExpiry: a client that does not follow
// nextnonce keeps its first nonce until it expires, and comes back after
// other clients took new nonces. The replay cache still knows that the
// expired nonce authenticated alice (expired nonces are kept for their
// lifetime again: before, the next new nonce of its shard dropped it),
// so the nonce passes alice's backoff, earns stale=true, and the nonce of
// that challenge is vouched for alice and gets her in. A stale challenge
// made without the result (Challenges(true)) carries a nonce that proves
// nothing.
func TestThrottleProvenNonceSurvivesExpiry(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{ClientFailures: 1000, Backoff: time.Hour})
	c := f.base(t, SHA256)
	if res := f.authFrom(c, "192.0.2.10"); !res.OK {
		t.Fatal(res.Err)
	}
	f.clk.Add(DefaultNonceLifetime + time.Minute) // alice's nonce expired
	throttleAlice(t, f, th)
	// Another user's new nonce: the replay cache (one shard here) drops
	// what it no longer keeps.
	jason := f.base(t, SHA256)
	jason.user, jason.pass = "J\u00e4s\u00f8n Doe", "Secret, or not?"
	if res := f.authFrom(jason, "192.0.2.20"); !res.OK {
		t.Fatal(res.Err)
	}
	c.nc = 2
	res := f.authFrom(c, "192.0.2.10")
	if !errors.Is(res.Err, ErrNonceExpired) || !res.Stale {
		t.Fatalf("the expired nonce that authenticated alice: %v (stale %v), want ErrNonceExpired, stale", res.Err, res.Stale)
	}
	plain := c
	plain.nonce, plain.nc = challengeNonce(t, f.srv.Challenges(true)), 1
	if res := f.authFrom(plain, "192.0.2.10"); !errors.Is(res.Err, ErrUserThrottled) {
		t.Fatalf("a plain stale challenge's nonce: %v, want ErrUserThrottled", res.Err)
	}
	c.nonce, c.nc = challengeNonce(t, f.srv.ChallengesFor(res)), 1
	if res := f.authFrom(c, "192.0.2.10"); !res.OK {
		t.Fatalf("the nonce of the challenge answering stale: %v", res.Err)
	}
	// Once the expired nonce has been expired for as long as it lived,
	// a new nonce of its shard drops it.
	f.clk.Add(DefaultNonceLifetime)
	old := f.replay.Len()
	j2 := f.base(t, SHA256)
	j2.user, j2.pass = jason.user, jason.pass
	if res := f.authFrom(j2, "192.0.2.20"); !res.OK {
		t.Fatal(res.Err)
	}
	if n := f.replay.Len(); n >= old+1 {
		t.Fatalf("replay cache: %d nonces, then %d; the long-expired ones were not dropped", old, n)
	}
}
