package digest

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// nid makes a nonce id issued at t with random part r.
func nid(t time.Time, r uint64) NonceID {
	var id NonceID
	binary.BigEndian.PutUint64(id[:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(id[8:16], r)
	return id
}

func TestReplayWindow(t *testing.T) {
	c := NewReplayCache(10, 64)
	now := time.Unix(1000, 0)
	exp := now.Add(time.Minute)
	id := nid(now, 1)
	steps := []struct {
		nc   uint32
		want Verdict
	}{
		{5, Accepted}, {5, Replayed}, {3, Accepted}, {4, Accepted}, {3, Replayed},
		{68, Accepted}, {4, TooOld}, {5, Replayed}, {6, Accepted}, {6, Replayed},
		{200, Accepted}, {68, TooOld}, {199, Accepted}, {137, Accepted}, {136, TooOld},
		{0xffffffff, Accepted}, {0xffffffff, Replayed}, {0xfffffffe, Accepted},
	}
	for i, s := range steps {
		if got := c.Check(id, exp, s.nc, now); got != s.want {
			t.Fatalf("step %d: nc=%d: %v, want %v", i, s.nc, got, s.want)
		}
	}
	// Counts between two far-apart accepted ones are still usable once.
	for nc := uint32(201); nc < 210; nc++ {
		id2 := nid(now, 2)
		if nc == 201 {
			c.Check(id2, exp, 300, now)
		}
		if got := c.Check(id2, exp, nc+60, now); got != Accepted {
			t.Fatalf("nc=%d: %v", nc+60, got)
		}
	}
}

func TestReplayEvictionIsSafe(t *testing.T) {
	c := NewReplayCache(4, 64)
	base := time.Unix(1000, 0)
	exp := base.Add(time.Hour)
	// Four nonces fill the cache.
	for i := 0; i < 4; i++ {
		if v := c.Check(nid(base.Add(time.Duration(i)*time.Second), uint64(i)), exp, 1, base); v != Accepted {
			t.Fatal(v)
		}
	}
	// Touch nonce 0 so that nonce 1 is the least recently used.
	if v := c.Check(nid(base, 0), exp, 2, base); v != Accepted {
		t.Fatal(v)
	}
	// A fifth evicts nonce 1.
	if v := c.Check(nid(base.Add(10*time.Second), 5), exp, 1, base); v != Accepted {
		t.Fatal(v)
	}
	if c.Len() != 4 {
		t.Fatalf("len %d", c.Len())
	}
	// Nonce 1's accepted count must not become acceptable again.
	if v := c.Check(nid(base.Add(time.Second), 1), exp, 1, base); v != Forgotten {
		t.Fatalf("evicted nonce: %v, want forgotten", v)
	}
	// A nonce issued before the evicted one and never seen is refused too
	// (it might have been accepted and evicted earlier).
	if v := c.Check(nid(base.Add(500*time.Millisecond), 9), exp, 1, base); v != Forgotten {
		t.Fatalf("older untracked nonce: %v", v)
	}
	// Newer nonces are fine.
	if v := c.Check(nid(base.Add(20*time.Second), 10), exp, 1, base); v != Accepted {
		t.Fatalf("new nonce: %v", v)
	}
	// Still tracked nonces keep working.
	if v := c.Check(nid(base, 0), exp, 3, base); v != Accepted {
		t.Fatalf("tracked nonce: %v", v)
	}
}

func TestReplayExpiredDropped(t *testing.T) {
	c := NewReplayCache(2, 64)
	base := time.Unix(1000, 0)
	c.Check(nid(base, 1), base.Add(time.Second), 1, base)
	c.Check(nid(base, 2), base.Add(time.Second), 1, base)
	later := base.Add(time.Minute)
	c.Check(nid(later, 3), later.Add(time.Second), 1, later)
	if c.Len() != 1 {
		t.Fatalf("expired nonces kept: %d", c.Len())
	}
}

func TestReplayBounded(t *testing.T) {
	c := NewReplayCache(5000, 128)
	base := time.Unix(1000, 0)
	for i := 0; i < 20000; i++ {
		c.Check(nid(base.Add(time.Duration(i)), uint64(i)*0x9e3779b97f4a7c15), base.Add(time.Hour), 1, base)
	}
	if n := c.Len(); n > 5000 || n < 4000 {
		t.Fatalf("len %d, want about 5000 and at most 5000", n)
	}
	c.Clear()
	if c.Len() != 0 {
		t.Fatal("clear")
	}
	last := uint64(19999)
	if v := c.Check(nid(base.Add(19999), last*0x9e3779b97f4a7c15), base.Add(time.Hour), 2, base); v != Forgotten {
		t.Fatalf("after clear: %v", v)
	}
}

func TestReplayConcurrent(t *testing.T) {
	c := NewReplayCache(100000, 256)
	now := time.Unix(1000, 0)
	id := nid(now, 42)
	var wg sync.WaitGroup
	accepted := make([]int, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for nc := uint32(1); nc <= 200; nc++ {
				if c.Check(id, now.Add(time.Hour), nc, now) == Accepted {
					accepted[g]++
				}
			}
		}(g)
	}
	wg.Wait()
	total := 0
	for _, a := range accepted {
		total += a
	}
	if total != 200 {
		t.Fatalf("%d acceptances of 200 distinct counts by 8 racing clients, want exactly 200", total)
	}
}

func TestReplayForgetBefore(t *testing.T) {
	c := NewReplayCache(100, 64)
	base := time.Unix(1000, 0)
	c.Check(nid(base, 1), base.Add(time.Hour), 1, base)
	c.ForgetBefore(base.Add(time.Second))
	if v := c.Check(nid(base, 1), base.Add(time.Hour), 2, base); v != Accepted {
		t.Fatalf("tracked nonce: %v", v)
	}
	if v := c.Check(nid(base.Add(time.Second), 2), base.Add(time.Hour), 1, base); v != Forgotten {
		t.Fatalf("nonce from before the start: %v", v)
	}
	if v := c.Check(nid(base.Add(2*time.Second), 3), base.Add(time.Hour), 1, base); v != Accepted {
		t.Fatalf("new nonce: %v", v)
	}
}

// TestReplayRemembersTheUser: CheckFor records the user a nonce first
// authenticated, for Authenticated (which the throttle asks); Check
// records none. Expired nonces stay tracked, with their user, for their
// lifetime again, within the same bound: a cache of 64 holds no more than
// 64 however many nonces expire into that grace.
func TestReplayRemembersTheUser(t *testing.T) {
	c := NewReplayCache(64, 64)
	base := time.Unix(1000, 0)
	a, b := nid(base, 1), nid(base, 2)
	c.CheckFor(a, base.Add(time.Minute), 1, base, "alice")
	c.CheckFor(a, base.Add(time.Minute), 2, base, "mallory") // not the first
	c.Check(b, base.Add(time.Minute), 1, base)
	for _, tc := range []struct {
		id   NonceID
		user string
		want bool
	}{{a, "alice", true}, {a, "mallory", false}, {a, "", false}, {b, "", false}, {b, "alice", false}, {nid(base, 3), "alice", false}} {
		if got := c.Authenticated(&tc.id, tc.user); got != tc.want {
			t.Errorf("Authenticated(%x, %q) = %v", tc.id[8:16], tc.user, got)
		}
	}
	// Expired for less than their lifetime: kept.
	later := base.Add(90 * time.Second)
	c.CheckFor(nid(later, 4), later.Add(time.Minute), 1, later, "alice")
	if !c.Authenticated(&a, "alice") {
		t.Fatal("a nonce expired for less than its lifetime was dropped")
	}
	// Expired for longer: dropped by the next new nonce.
	later = base.Add(121 * time.Second)
	c.CheckFor(nid(later, 5), later.Add(time.Minute), 1, later, "alice")
	if c.Authenticated(&a, "alice") {
		t.Fatal("a nonce expired for longer than its lifetime was kept")
	}
	for i := 0; i < 1000; i++ {
		at := later.Add(time.Duration(i) * time.Millisecond)
		c.CheckFor(nid(at, uint64(100+i)), at, 1, at, "alice") // expired at once, kept a while
	}
	if n := c.Len(); n > 64 {
		t.Fatalf("%d nonces tracked, want at most 64", n)
	}
}
