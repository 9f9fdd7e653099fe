package digest

import (
	"strings"
	"sync"
	"time"
)

// Verdict is what the replay cache says about a nonce count.
type Verdict uint8

const (
	// Accepted: the count is new for this nonce; it is now recorded.
	Accepted Verdict = iota
	// Replayed: the count was already accepted with this nonce.
	Replayed
	// TooOld: the count lies below the nonce's window, so whether it was
	// used cannot be told any more.
	TooOld
	// Forgotten: the nonce is no longer tracked (it was evicted to bound
	// memory), so none of its counts can be accepted any more.
	Forgotten
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Accepted:
		return "accepted"
	case Replayed:
		return "replayed"
	case TooOld:
		return "too old"
	case Forgotten:
		return "forgotten"
	}
	return "unknown"
}

// DefaultReplayWindow and DefaultMaxNonces are the ReplayCache defaults.
const (
	DefaultReplayWindow = 128
	DefaultMaxNonces    = 65536
	// MaxReplayWindow bounds the window (bits of memory per nonce).
	MaxReplayWindow = 4096
)

// ReplayCache refuses a nonce count that was already accepted with the
// same nonce. Clients may send counts out of order (browsers pipeline
// requests on several connections), so each nonce has a sliding window
// of the last Window counts below the highest one seen, as IPsec's
// anti-replay window does (RFC 4303 section 3.4.3).
//
// Only nonces that have authenticated a request are tracked: a server
// calls Check after it has verified the response, so unauthenticated
// traffic cannot grow the cache. The cache holds at most MaxNonces nonces;
// beyond that it evicts the least recently used. To keep replay
// protection sound despite forgetting, it remembers the newest issue time
// of any nonce it dropped (its floor): a nonce it does not track and that
// was issued at or before the floor is Forgotten, and its client must take
// a fresh nonce (the server answers stale=true). So an accepted (nonce,
// count) pair is never accepted again while the nonce lives.
//
// A nonce also remembers the user it first authenticated (CheckFor), and
// stays tracked, unless evicted, for its lifetime again after it expired:
// a Throttle lets a nonce that authenticated a user past that user's
// backoff (Authenticated).
//
// A ReplayCache is safe for concurrent use; it is sharded to limit lock
// contention.
type ReplayCache struct {
	shards []replayShard
}

type replayShard struct {
	mu                                 sync.Mutex
	max                                int
	window                             int
	m                                  map[NonceID]*replayEntry
	recency[replayEntry, *replayEntry]          // by last use
	floor                              int64    // issue time (Unix ns) of the newest nonce dropped
	_                                  [40]byte // keep shards on separate cache lines
}

type replayEntry struct {
	id      NonceID
	issued  int64
	expires int64
	top     uint32 // highest count accepted
	bits    []uint64
	// user is the user the nonce first authenticated (CheckFor), so that
	// the nonce proves its holder knew that user's password (see
	// Throttle); "" when not given.
	user string
	links[replayEntry]
}

func (e *replayEntry) ln() *links[replayEntry] { return &e.links }

// NewReplayCache returns a cache holding at most maxNonces nonces (0 means
// DefaultMaxNonces) with a window of window counts per nonce (0 means
// DefaultReplayWindow; rounded up to a multiple of 64, at most
// MaxReplayWindow).
func NewReplayCache(maxNonces, window int) *ReplayCache {
	if maxNonces <= 0 {
		maxNonces = DefaultMaxNonces
	}
	n := 1
	if maxNonces >= 16*256 {
		n = 16
	}
	c := &ReplayCache{shards: make([]replayShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[NonceID]*replayEntry)
	}
	c.Configure(maxNonces, window)
	return c
}

// Configure changes the limits. A smaller maximum takes effect as nonces
// are added; a new window applies to nonces tracked from now on.
func (c *ReplayCache) Configure(maxNonces, window int) {
	if maxNonces <= 0 {
		maxNonces = DefaultMaxNonces
	}
	window = normalizeWindow(window)
	per := max(maxNonces/len(c.shards), 1) // never more than maxNonces in all
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.max, s.window = per, window
		s.mu.Unlock()
	}
}

func normalizeWindow(w int) int {
	if w <= 0 {
		w = DefaultReplayWindow
	}
	if w > MaxReplayWindow {
		w = MaxReplayWindow
	}
	return (w + 63) / 64 * 64
}

// Len returns the number of nonces tracked.
func (c *ReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// ForgetBefore makes every nonce issued at or before t that is not tracked
// yet Forgotten. A server calls it with its start time on a new cache:
// nonces issued before it started may have been used with a previous
// process, whose counts are lost, so their clients must take new nonces
// (one stale=true round trip) rather than risk a replay being accepted.
func (c *ReplayCache) ForgetBefore(t time.Time) {
	ns := t.UnixNano()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if ns > s.floor {
			s.floor = ns
		}
		s.mu.Unlock()
	}
}

// Clear forgets every nonce. Nonces tracked so far are Forgotten after it.
func (c *ReplayCache) Clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			if e.issued > s.floor {
				s.floor = e.issued
			}
		}
		clear(s.m)
		s.head, s.tail = nil, nil
		s.mu.Unlock()
	}
}

// Check records count nc of nonce id, valid until expires, and says
// whether it may be accepted. now is used to drop expired nonces.
func (c *ReplayCache) Check(id NonceID, expires time.Time, nc uint32, now time.Time) Verdict {
	return c.CheckFor(id, expires, nc, now, "")
}

// CheckFor is Check for a request that authenticated user: a nonce it
// starts tracking remembers user, for Authenticated.
func (c *ReplayCache) CheckFor(id NonceID, expires time.Time, nc uint32, now time.Time, user string) Verdict {
	s := c.shard(&id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		s.moveToFront(e)
		return e.check(nc)
	}
	issued := id.issuedNanos()
	if issued <= s.floor {
		return Forgotten
	}
	nowNs := now.UnixNano()
	// Drop nonces from the cold end once they have been expired for as
	// long as they lived, then make room. An expired nonce is refused
	// before its count is checked, so keeping it changes no verdict; it
	// keeps, for that while, the record that it authenticated its user,
	// which lets a client whose nonce expired while its user was
	// throttled prove itself once more and get a vouched nonce with its
	// stale=true challenge (see Throttle). Memory stays bounded by the
	// maximum, which evicts the least recently used first as before.
	for i := 0; i < 4 && s.tail != nil && s.tail.expires+(s.tail.expires-s.tail.issued) < nowNs; i++ {
		s.remove(s.tail)
	}
	for len(s.m) >= s.max && s.tail != nil {
		s.remove(s.tail)
	}
	e := &replayEntry{
		id:      id,
		issued:  issued,
		expires: expires.UnixNano(),
		top:     nc,
		bits:    make([]uint64, s.window/64),
		user:    strings.Clone(user), // not a piece of a request header
	}
	e.set(nc)
	s.m[id] = e
	s.pushFront(e)
	return Accepted
}

// Authenticated reports whether nonce id is tracked and authenticated
// user (the first user CheckFor recorded for it), expired or not.
func (c *ReplayCache) Authenticated(id *NonceID, user string) bool {
	s := c.shard(id)
	s.mu.Lock()
	e := s.m[*id]
	ok := e != nil && e.user != "" && e.user == user
	s.mu.Unlock()
	return ok
}

// shard returns the shard of nonce id, chosen by a random byte of it
// (its low bits: the top bit of that byte marks vouched nonces).
func (c *ReplayCache) shard(id *NonceID) *replayShard {
	return &c.shards[int(id[nonceTimeLen])%len(c.shards)]
}

func (e *replayEntry) window() uint32 { return uint32(len(e.bits) * 64) }

func (e *replayEntry) has(nc uint32) bool {
	b := nc % e.window()
	return e.bits[b/64]&(1<<(b%64)) != 0
}

func (e *replayEntry) set(nc uint32) {
	b := nc % e.window()
	e.bits[b/64] |= 1 << (b % 64)
}

func (e *replayEntry) unset(nc uint32) {
	b := nc % e.window()
	e.bits[b/64] &^= 1 << (b % 64)
}

func (e *replayEntry) check(nc uint32) Verdict {
	w := e.window()
	if nc > e.top {
		if d := nc - e.top; d >= w {
			clear(e.bits)
		} else {
			for k := e.top + 1; k != nc; k++ {
				e.unset(k)
			}
			e.unset(nc)
		}
		e.top = nc
		e.set(nc)
		return Accepted
	}
	if e.top-nc >= w {
		return TooOld
	}
	if e.has(nc) {
		return Replayed
	}
	e.set(nc)
	return Accepted
}

func (s *replayShard) remove(e *replayEntry) {
	if e.issued > s.floor {
		s.floor = e.issued
	}
	delete(s.m, e.id)
	s.unlink(e)
}

func (s *replayShard) moveToFront(e *replayEntry) {
	if s.head == e {
		return
	}
	// unlink
	e.prev.next = e.next
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	s.pushFront(e)
}
