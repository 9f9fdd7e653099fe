package digest

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// newThrottled returns a fixture whose server has a Throttle with cfg.
func newThrottled(t *testing.T, cfg ThrottleConfig) (*fixture, *Throttle) {
	t.Helper()
	th, err := NewThrottle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *ServerConfig) { c.Throttle = th })
	return f, th
}

// authFrom authenticates c as sent from the client address client.
func (f *fixture) authFrom(c cred, client string) Result {
	return f.srv.Authenticate(Request{Method: "POST", URI: "/csb/publish?x=1", Authorization: c.header(), Client: client})
}

// guess sends a wrong password for user from client with a fresh nonce.
func (f *fixture) guess(t *testing.T, user, client string, i int) Result {
	t.Helper()
	c := f.base(t, SHA256)
	c.user, c.pass = user, fmt.Sprintf("guess-%d", i)
	return f.authFrom(c, client)
}

func TestThrottleNonceBudget(t *testing.T) {
	for _, budget := range []int{1, 3} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			// Allowances far above the guesses: only the nonce budget acts.
			f, _ := newThrottled(t, ThrottleConfig{NonceFailures: budget, UserFailures: 1000, ClientFailures: 1000})
			c := f.base(t, SHA256)
			for i := 1; i <= 50; i++ {
				c.pass, c.nc = fmt.Sprintf("guess-%d", i), uint32(i)
				res := f.authFrom(c, "192.0.2.1")
				want := ErrResponse
				if i > budget {
					want = ErrNonceExhausted
				}
				if !errors.Is(res.Err, want) || res.OK || res.Stale {
					t.Fatalf("guess %d: %v (stale %v), want %v", i, res.Err, res.Stale, want)
				}
			}
			// The right password on the used-up nonce is refused too,
			// without stale=true: the nonce is no oracle.
			c.pass, c.nc = "wonderland", 51
			if res := f.authFrom(c, "192.0.2.1"); !errors.Is(res.Err, ErrNonceExhausted) || res.Stale {
				t.Fatalf("right password on a used-up nonce: %v (stale %v)", res.Err, res.Stale)
			}
			// A fresh nonce (the one every 401 carries) works at once.
			c = f.base(t, SHA256)
			if res := f.authFrom(c, "192.0.2.1"); !res.OK {
				t.Fatalf("fresh nonce: %v", res.Err)
			}
		})
	}
}

func TestThrottleMistypesDoNotLockOut(t *testing.T) {
	f, _ := newThrottled(t, ThrottleConfig{})
	for i := 0; i < 2; i++ {
		if res := f.guess(t, "alice", "192.0.2.1", i); !errors.Is(res.Err, ErrResponse) {
			t.Fatalf("mistype %d: %v", i, res.Err)
		}
	}
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.1"); !res.OK {
		t.Fatalf("right password after two mistypes: %v", res.Err)
	}
}

func TestThrottleUserBackoff(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{UserFailures: 3, ClientFailures: 1000, Backoff: time.Second, MaxBackoff: 8 * time.Second})
	// Each guess from another address: only the user's count grows.
	client := func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }
	for i := 1; i <= 3; i++ {
		if res := f.guess(t, "alice", client(i), i); !errors.Is(res.Err, ErrResponse) {
			t.Fatalf("guess %d within the allowance: %v", i, res.Err)
		}
	}
	if res := f.authFrom(f.base(t, SHA256), client(50)); !res.OK {
		t.Fatalf("allowance used but not exceeded: %v", res.Err)
	}
	// The 4th failure starts the backoff: 1s, then 2s, 4s, 8s, 8s.
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if res := f.guess(t, "alice", client(10+n), 10+n); !errors.Is(res.Err, ErrResponse) {
			t.Fatalf("failure %d: %v", 4+n, res.Err)
		}
		// While throttled even the right password is refused, unchecked,
		// with the time left.
		res := f.authFrom(f.base(t, SHA256), client(60+n))
		if !errors.Is(res.Err, ErrUserThrottled) || !errors.Is(res.Err, ErrThrottled) || res.RetryAfter != want {
			t.Fatalf("after failure %d: %v, retry after %v; want throttled for %v", 4+n, res.Err, res.RetryAfter, want)
		}
		// Refusals while throttled do not count: the wait does not grow.
		for i := 0; i < 5; i++ {
			f.guess(t, "alice", client(70), 100+i)
		}
		f.clk.Add(want - time.Millisecond)
		if res := f.authFrom(f.base(t, SHA256), client(60+n)); res.RetryAfter != time.Millisecond {
			t.Fatalf("1ms before the end: %v, retry after %v", res.Err, res.RetryAfter)
		}
		f.clk.Add(time.Millisecond)
		if n < 4 {
			continue
		}
		if res := f.authFrom(f.base(t, SHA256), client(60+n)); !res.OK {
			t.Fatalf("backoff over: %v", res.Err)
		}
	}
	// Another user is not affected.
	c := f.base(t, SHA256)
	c.user, c.pass = "J\u00e4s\u00f8n Doe", "Secret, or not?"
	f.guess(t, "alice", client(90), 200) // alice throttled again
	if res := f.authFrom(c, client(91)); !res.OK {
		t.Fatalf("another user: %v", res.Err)
	}
	// ForgetAfter (default: 15m, at least MaxBackoff) after the last
	// failure, the count starts again.
	f.clk.Add(th.Config().ForgetAfter + time.Second)
	for i := 1; i <= 3; i++ {
		f.guess(t, "alice", client(i), 300+i)
	}
	if res := f.authFrom(f.base(t, SHA256), client(50)); !res.OK {
		t.Fatalf("after forget_after, the allowance is new: %v", res.Err)
	}
}

func TestThrottleClientBackoff(t *testing.T) {
	f, _ := newThrottled(t, ThrottleConfig{UserFailures: 1000, ClientFailures: 4, Backoff: 10 * time.Second})
	// A guesser rotating user names from one address.
	for i := 1; i <= 5; i++ {
		if res := f.guess(t, fmt.Sprintf("user-%d", i), "203.0.113.7", i); !errors.Is(res.Err, ErrUnknownUser) {
			t.Fatalf("guess %d: %v", i, res.Err)
		}
	}
	res := f.authFrom(f.base(t, SHA256), "203.0.113.7")
	if !errors.Is(res.Err, ErrClientThrottled) || res.RetryAfter != 10*time.Second {
		t.Fatalf("address over its allowance: %v, %v", res.Err, res.RetryAfter)
	}
	// Another address, same user: fine.
	if res := f.authFrom(f.base(t, SHA256), "203.0.113.8"); !res.OK {
		t.Fatalf("another address: %v", res.Err)
	}
	// No address: not counted by address.
	if res := f.authFrom(f.base(t, SHA256), ""); !res.OK {
		t.Fatalf("no address: %v", res.Err)
	}
}

func TestThrottleIPv6Prefix(t *testing.T) {
	f, _ := newThrottled(t, ThrottleConfig{UserFailures: 1000, ClientFailures: 2})
	// Every guess from another address of one /64.
	for i := 1; i <= 3; i++ {
		f.guess(t, "alice", fmt.Sprintf("2001:db8:1:2::%x", i), i)
	}
	if res := f.authFrom(f.base(t, SHA256), "2001:db8:1:2:ffff::1"); !errors.Is(res.Err, ErrClientThrottled) {
		t.Fatalf("same /64: %v", res.Err)
	}
	if res := f.authFrom(f.base(t, SHA256), "2001:db8:1:3::1"); !res.OK {
		t.Fatalf("another /64: %v", res.Err)
	}
	// An IPv4-mapped address counts as the IPv4 address.
	f2, _ := newThrottled(t, ThrottleConfig{UserFailures: 1000, ClientFailures: 1})
	f2.guess(t, "alice", "::ffff:192.0.2.9", 1)
	f2.guess(t, "alice", "192.0.2.9", 2)
	if res := f2.authFrom(f2.base(t, SHA256), "192.0.2.9"); !errors.Is(res.Err, ErrClientThrottled) {
		t.Fatalf("mapped address: %v", res.Err)
	}
}

func TestThrottleUnknownUsersCountedAlike(t *testing.T) {
	f, _ := newThrottled(t, ThrottleConfig{UserFailures: 2, ClientFailures: 1000})
	for _, user := range []string{"alice", "mallory"} {
		for i := 1; i <= 3; i++ {
			f.guess(t, user, fmt.Sprintf("192.0.2.%d", i), i)
		}
		c := f.base(t, SHA256)
		c.user = user
		if res := f.authFrom(c, "192.0.2.100"); !errors.Is(res.Err, ErrUserThrottled) {
			t.Fatalf("%s: %v", user, res.Err)
		}
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{MaxTracked: 64, ClientFailures: 1 << 20})
	for i := 0; i < 2000; i++ {
		f.guess(t, fmt.Sprintf("user-%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256), i)
	}
	users, clients, nonces := th.Len()
	if users > 64 || clients > 64 || nonces > 64 {
		t.Fatalf("tracked %d users, %d clients, %d nonces; at most 64 each", users, clients, nonces)
	}
	// The address that keeps failing stays tracked while names rotate.
	f2, _ := newThrottled(t, ThrottleConfig{MaxTracked: 16, UserFailures: 1 << 20, ClientFailures: 99})
	for i := 0; i < 100; i++ {
		f2.guess(t, fmt.Sprintf("user-%d", i), "192.0.2.66", i)
	}
	if res := f2.guess(t, "alice", "192.0.2.66", 1000); !errors.Is(res.Err, ErrClientThrottled) {
		t.Fatalf("rotating user names evicted the address: %v", res.Err)
	}
}

func TestThrottleEmptiesWhenQuiet(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{})
	f.guess(t, "alice", "192.0.2.1", 1)
	if th.tracked.Load() == 0 {
		t.Fatal("a failure is not tracked")
	}
	// Successes after forget_after drop the forgotten entries, and the
	// fast path (nothing tracked) returns.
	f.clk.Add(th.Config().ForgetAfter + time.Second)
	for i := 0; i < 3; i++ {
		if res := f.authFrom(f.base(t, SHA256), "192.0.2.1"); !res.OK {
			t.Fatal(res.Err)
		}
	}
	if n := th.tracked.Load(); n != 0 {
		t.Fatalf("%d entries left after forget_after", n)
	}
}

func TestThrottleNotCountingOtherRefusals(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{})
	c := f.base(t, SHA256)
	c.realm = "other"
	f.authFrom(c, "192.0.2.1")
	c = f.base(t, SHA256)
	c.nonce = "x" + c.nonce[1:]
	f.authFrom(c, "192.0.2.1")
	f.srv.Authenticate(Request{Method: "POST", URI: "/csb/publish?x=1", Client: "192.0.2.1"})
	// A replayed count with the right password is no guess.
	c = f.base(t, SHA256)
	f.authFrom(c, "192.0.2.1")
	f.authFrom(c, "192.0.2.1")
	if n := th.tracked.Load(); n != 0 {
		t.Fatalf("refusals other than wrong responses were counted: %d entries", n)
	}
}

func TestThrottleConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg ThrottleConfig
		ok  bool
	}{
		{ThrottleConfig{}, true},
		{ThrottleConfig{Backoff: time.Hour}, true}, // the maximum follows
		{ThrottleConfig{Backoff: 10 * time.Second, MaxBackoff: time.Second}, false},
		{ThrottleConfig{MaxBackoff: time.Hour, ForgetAfter: time.Minute}, false},
		{ThrottleConfig{UserFailures: -1}, false},
		{ThrottleConfig{Backoff: -time.Second}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
	c := ThrottleConfig{}.WithDefaults()
	if c.NonceFailures != 1 || c.UserFailures != 5 || c.ClientFailures != 10 || c.Backoff != time.Second ||
		c.MaxBackoff != 5*time.Minute || c.ForgetAfter != 15*time.Minute || c.MaxTracked != 65536 {
		t.Fatalf("defaults %+v", c)
	}
}

// TestThrottleFloodKeepsUserCount: the tables are bounded, so a new entry
// evicts an old one. A guesser with many addresses (an IPv6 /48 holds
// 65536 /64s) that fails once for each of many new names used to evict
// alice's entry, the oldest, and with it her count and backoff: then it
// had her whole allowance again, as often as it flushed the table. Names
// with one failure are now evicted before her.
func TestThrottleFloodKeepsUserCount(t *testing.T) {
	f, th := newThrottled(t, ThrottleConfig{MaxTracked: 64, Backoff: time.Hour})
	throttleAlice(t, f, th)
	for i := 0; i < 500; i++ {
		f.guess(t, fmt.Sprintf("flood-%d", i), fmt.Sprintf("2001:db8:0:%x::1", i), i)
	}
	if users, _, _ := th.Len(); users > 64 {
		t.Fatalf("%d users tracked, at most 64", users)
	}
	if res := f.authFrom(f.base(t, SHA256), "192.0.2.99"); !errors.Is(res.Err, ErrUserThrottled) {
		t.Fatalf("alice after a flood of new names: %v, want ErrUserThrottled", res.Err)
	}
}
