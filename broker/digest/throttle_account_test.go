package digest

import (
	"errors"
	"testing"
	"time"
)

// account returns the identity a fixture's server binds proofs to for
// the user name.
func (f *fixture) account(name string) string {
	return f.srv.cfg.Users.byName[name].account
}

// TestThrottleProofIsPerAccount: two providers with the same realm and
// nonce key (in Caddy, any two http_digest providers left with the
// default realm and the key in storage) share nonces, the replay cache
// and the throttle, but not their users: "alice" of site B has another
// password than "alice" of site A. A nonce that authenticated alice at A,
// or that A vouched for her (a nextnonce), proves that its holder knows
// A's password, not B's, so it must not pass B's alice's backoff. Before,
// proofs were bound to the name alone: whoever had an account alice at A
// could collect nextnonces there and spend each on one guess of B's
// alice password, past her backoff, at any rate.
func TestThrottleProofIsPerAccount(t *testing.T) {
	a, th := newThrottled(t, ThrottleConfig{ClientFailures: 1000, Backoff: time.Minute})
	cfg := a.srv.cfg
	cfg.Users = NewUsers("broker")
	if err := cfg.Users.Add("alice", SHA256, HA1(SHA256, "alice", "broker", "another password")); err != nil {
		t.Fatal(err)
	}
	srvB, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &fixture{srv: srvB, clk: a.clk, replay: a.replay}

	// The attacker is alice at A: a nonce that authenticated her there,
	// and past half its life a nextnonce vouched for her there.
	atA := a.base(t, SHA256)
	if res := a.authFrom(atA, "203.0.113.7"); !res.OK {
		t.Fatal(res.Err)
	}
	a.clk.Add(3 * time.Minute)
	atA.nc = 2
	res := a.authFrom(atA, "203.0.113.7")
	next := infoParam(t, res.AuthenticationInfo, "nextnonce")
	if !res.OK || next == "" {
		t.Fatalf("no nextnonce: %+v", res)
	}

	// B's alice is throttled (the throttle is shared; any guesses do).
	for i := 0; i <= th.Config().UserFailures; i++ {
		b.guess(t, "alice", "203.0.113.1", i)
	}
	for name, nonce := range map[string]string{"authenticated at A": atA.nonce, "vouched at A": next} {
		c := b.base(t, SHA256)
		c.nonce, c.nc, c.pass = nonce, 3, "a guess of B's password"
		if res := b.authFrom(c, "203.0.113.7"); !errors.Is(res.Err, ErrUserThrottled) {
			t.Errorf("a guess at B on a nonce %s: %v, want ErrUserThrottled", name, res.Err)
		}
	}
	// At A, the same nonces still prove alice and get her in.
	atA.nonce, atA.nc = next, 1
	if res := a.authFrom(atA, "203.0.113.7"); !res.OK {
		t.Fatalf("alice at A on her vouched nonce: %v", res.Err)
	}
}
