package digest

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
)

// Refusals of the throttle. Each wraps ErrThrottled, except
// ErrNonceExhausted. Like the other refusals they carry no secret.
var (
	// ErrThrottled is wrapped by the refusals made while a user or a
	// client address is in backoff.
	ErrThrottled = errors.New("throttled after failed attempts")
	// ErrUserThrottled: the user named in the credentials had too many
	// failures lately; the response was not checked.
	ErrUserThrottled = fmt.Errorf("%w: user", ErrThrottled)
	// ErrClientThrottled: the client address had too many failures
	// lately; the response was not checked.
	ErrClientThrottled = fmt.Errorf("%w: client address", ErrThrottled)
	// ErrNonceExhausted: the nonce has taken as many wrong responses as
	// its budget allows; the response was not checked.
	ErrNonceExhausted = errors.New("nonce used up by wrong responses")
)

// Defaults of ThrottleConfig.
const (
	DefaultNonceFailures  = 1
	DefaultUserFailures   = 5
	DefaultClientFailures = 10
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultForgetAfter    = 15 * time.Minute
	DefaultMaxTracked     = 65536
)

// ThrottleConfig configures a Throttle. Zero fields take their defaults.
type ThrottleConfig struct {
	// NonceFailures is how many wrong responses one nonce may take. Once
	// it has taken them, credentials with that nonce are refused
	// (ErrNonceExhausted, a fresh challenge without stale=true) before
	// their response is checked, so one challenge cannot serve a guessing
	// run. Default 1: a wrong response uses up its nonce; the 401 that
	// answers it carries a fresh one, so an honest client loses nothing.
	NonceFailures int
	// UserFailures is how many failures a user name may have before it
	// is throttled (backoff). Unknown user names are counted like known
	// ones. Default 5.
	UserFailures int
	// ClientFailures is the same for a client address (an IPv4 address,
	// or the /64 of an IPv6 address). Default 10: several users behind
	// one address may each mistype.
	ClientFailures int
	// Backoff is how long a user or client address is refused after the
	// first failure beyond its allowance; it doubles with each further
	// failure, up to MaxBackoff. Default 1s.
	Backoff time.Duration
	// MaxBackoff caps the backoff. Default 5m.
	MaxBackoff time.Duration
	// ForgetAfter is how long after its last failure a user, client
	// address or nonce is forgotten (its count starts again from zero).
	// At least MaxBackoff. Default 15m.
	ForgetAfter time.Duration
	// MaxTracked bounds the user names, the client addresses and the
	// nonces tracked, each: beyond it, one with few failures whose last
	// failure is among the oldest is forgotten. Default 65536.
	MaxTracked int
}

// WithDefaults returns c with its zero fields set to the defaults (the
// Default constants; MaxBackoff and ForgetAfter at least the backoff
// before them).
func (c ThrottleConfig) WithDefaults() ThrottleConfig {
	defaults.Zero(&c.NonceFailures, DefaultNonceFailures)
	defaults.Zero(&c.UserFailures, DefaultUserFailures)
	defaults.Zero(&c.ClientFailures, DefaultClientFailures)
	defaults.Zero(&c.MaxTracked, DefaultMaxTracked)
	defaults.Zero(&c.Backoff, DefaultBackoff)
	defaults.Zero(&c.MaxBackoff, max(DefaultMaxBackoff, c.Backoff))
	defaults.Zero(&c.ForgetAfter, max(DefaultForgetAfter, c.MaxBackoff))
	return c
}

// Validate checks the ranges of c once defaults are applied.
func (c ThrottleConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.NonceFailures < 0, c.UserFailures < 0, c.ClientFailures < 0, c.MaxTracked < 0:
		return errors.New("throttle counts must be positive")
	case c.Backoff < 0 || c.MaxBackoff < 0 || c.ForgetAfter < 0:
		return errors.New("throttle durations must be positive")
	case c.MaxBackoff < c.Backoff:
		return fmt.Errorf("throttle: maximum backoff %v is shorter than the first backoff %v", c.MaxBackoff, c.Backoff)
	case c.ForgetAfter < c.MaxBackoff:
		return fmt.Errorf("throttle: forget_after %v is shorter than the maximum backoff %v", c.ForgetAfter, c.MaxBackoff)
	}
	return nil
}

// Throttle slows down online password guessing against a Server. It
// counts failures (wrong responses, unknown users) per nonce, per user
// name and per client address; a nonce that has taken its budget of wrong
// responses is refused, and a user name or address with too many
// failures is refused for a backoff that doubles with each further
// failure. Refusals it makes are decided before the response is checked,
// so they tell a guesser nothing about the password, and they do not
// count as failures themselves, so hammering a throttled account does
// not lengthen its backoff. Failures are forgotten ForgetAfter after the
// last one; nothing is reset by a success, so interleaving a valid login
// does not buy a guesser more tries.
//
// A backoff alone would let anyone who knows a user name lock that user
// out for good: one wrong response each time the backoff ends (one
// request every MaxBackoff) keeps it refused, the right password
// included. A broker's consumers are named in configurations, so that
// lockout is worse than the guessing it slows. The Server therefore lets
// credentials past the user's and the address's backoff when their nonce
// proves that its holder knew the user's password before, and the nonce
// has no failure remembered here: a nonce that authenticated that user
// (the ReplayCache remembers whom, ReplayCache.Authenticated), or one
// vouched for that user (Nonces.IssueFor: the nextnonce of a success, and
// the nonce of the stale=true challenge answering a correct response on a
// nonce that expired or can no longer be used). A client that knows the
// password thus keeps working while its name is hammered, across nonce
// expiry and stale=true, which hand it a vouched nonce in turn; vouched
// nonces are stateless, so the chain also survives reloads, restarts and
// the instances of a cluster that share the nonce key.
//
// That pass gives a guesser nothing. The server hands such a nonce only to
// a client that has just sent a correct response for that same user
// (unknown names never pass), so without the password no request passes
// and the checked guesses per user and per address are what they were.
// The pass depends on the nonce and the name only, never on the response,
// so it too is decided before the response is checked. A wrong response
// on a nonce that passed is counted against the user and the address like
// any other, and uses the nonce up (it is refused as if over its budget,
// and no longer passes), so a nonce is no guessing channel: even one that
// leaked gives one checked guess while its failure is remembered. (A
// party that can read a client's nonces can read its responses too, and
// those allow guessing offline, with no throttle at all.)
//
// What the pass does not cover: a client that starts afresh (a new
// process, or a nonce the replay cache no longer tracks) has no proof and
// waits like a guesser while its user is throttled. Exempting addresses
// that authenticated the user would cover it, but the success path would
// then record every request's address, and a guesser sharing that
// address (a NAT, a proxy) would get the user's allowance again.
//
// Memory is bounded: each of the three tables holds at most MaxTracked
// entries of fixed size (names and addresses are kept as 64-bit keyed
// hashes), evicting, of the entries whose last failure is the oldest, the
// one with the fewest failures (see failShard.victim). A guesser
// rotating user names fills only the user table, while its own address
// stays tracked (it fails most recently).
//
// Only failures cost a lock: while nothing is tracked, a request pays one
// atomic load, and otherwise a read lock on three shards. A Throttle is
// safe for concurrent use; Configure may change its limits at any time
// (a configuration reload keeps the counts).
type Throttle struct {
	cfg     atomic.Pointer[ThrottleConfig]
	seed    maphash.Seed
	tracked atomic.Int64 // entries in all tables: 0 is the fast path
	// nextSweep is when (Unix ns) forgotten entries are dropped next, so
	// that the tables empty, and the fast path returns, once failures
	// stop.
	nextSweep atomic.Int64
	users     failTable
	clients   failTable
	nonces    failTable
}

// NewThrottle returns a Throttle with cfg (checked by Validate).
func NewThrottle(cfg ThrottleConfig) (*Throttle, error) {
	t := &Throttle{seed: maphash.MakeSeed()}
	for _, tab := range []*failTable{&t.users, &t.clients, &t.nonces} {
		tab.tracked = &t.tracked
		for i := range tab.shards {
			tab.shards[i].m = make(map[uint64]*failEntry)
		}
	}
	if err := t.Configure(cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// Configure changes the limits; counts are kept. A smaller MaxTracked
// takes effect as entries are added.
func (t *Throttle) Configure(cfg ThrottleConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.WithDefaults()
	t.cfg.Store(&cfg)
	per := max(cfg.MaxTracked/throttleShards, 1)
	for _, tab := range []*failTable{&t.users, &t.clients, &t.nonces} {
		for i := range tab.shards {
			s := &tab.shards[i]
			s.mu.Lock()
			s.max = per
			s.mu.Unlock()
		}
	}
	return nil
}

// Config returns the limits in force, defaults applied.
func (t *Throttle) Config() ThrottleConfig { return *t.cfg.Load() }

// Len returns the number of user names, client addresses and nonces
// tracked.
func (t *Throttle) Len() (users, clients, nonces int) {
	return t.users.len(), t.clients.len(), t.nonces.len()
}

// Clear forgets every count.
func (t *Throttle) Clear() {
	t.users.clear()
	t.clients.clear()
	t.nonces.clear()
}

// throttleKeys are the keys of one request in the three tables. The
// client key is 0 when the address is unknown (not throttled by address).
type throttleKeys struct {
	user, client, nonce uint64
}

// keys hashes the user name, the client address and the nonce of a
// request.
func (t *Throttle) keys(user string, client string, nonce *NonceID) throttleKeys {
	k := throttleKeys{
		user:  maphash.String(t.seed, user),
		nonce: maphash.Bytes(t.seed, nonce[:]),
	}
	if a, err := netip.ParseAddr(client); err == nil {
		a = a.Unmap().WithZone("")
		if a.Is6() {
			// One host of IPv6 usually holds a whole /64.
			a = netip.PrefixFrom(a, 64).Masked().Addr()
		}
		b := a.As16()
		k.client = maphash.Bytes(t.seed, b[:]) | 1 // never 0
	}
	return k
}

// check says whether a request with keys k is refused before its
// response is checked, and for how long to wait when it is throttled.
func (t *Throttle) check(k throttleKeys, now time.Time) (time.Duration, error) {
	if t.tracked.Load() == 0 {
		return 0, nil
	}
	cfg := t.cfg.Load()
	ns := now.UnixNano()
	forget := int64(cfg.ForgetAfter)
	t.maybeSweep(ns, forget)
	var until int64
	var why error
	if k.client != 0 {
		if _, u, ok := t.clients.get(k.client, ns, forget); ok && u > ns {
			until, why = u, ErrClientThrottled
		}
	}
	if _, u, ok := t.users.get(k.user, ns, forget); ok && u > ns && u > until {
		until, why = u, ErrUserThrottled
	}
	if why != nil {
		return time.Duration(until - ns), why
	}
	if n, _, ok := t.nonces.get(k.nonce, ns, forget); ok && n >= uint32(cfg.NonceFailures) {
		return 0, ErrNonceExhausted
	}
	return 0, nil
}

// sweepEvery is how often check drops forgotten entries.
const sweepEvery = int64(time.Second)

// maybeSweep drops the forgotten entries of every shard, at most once per
// sweepEvery, skipping shards that are busy. Entries are ordered by last
// failure, so each shard is swept from its cold end until the first
// entry still remembered.
func (t *Throttle) maybeSweep(now, forget int64) {
	next := t.nextSweep.Load()
	if now < next || !t.nextSweep.CompareAndSwap(next, now+sweepEvery) {
		return
	}
	for _, tab := range []*failTable{&t.users, &t.clients, &t.nonces} {
		for i := range tab.shards {
			s := &tab.shards[i]
			if !s.mu.TryLock() {
				continue
			}
			for s.tail != nil && now-s.tail.last > forget {
				tab.remove(s, s.tail)
			}
			s.mu.Unlock()
		}
	}
}

// nonceClean reports whether no failure of the nonce of k is remembered:
// only such a nonce may pass the user's and the address's backoff (see
// Throttle).
func (t *Throttle) nonceClean(k throttleKeys, now time.Time) bool {
	n, _, ok := t.nonces.get(k.nonce, now.UnixNano(), int64(t.cfg.Load().ForgetAfter))
	return !ok || n == 0
}

// fail records a failure of a request with keys k. usedUp, for a request
// that passed the backoff on the strength of its nonce, counts the nonce
// as having taken its whole budget.
func (t *Throttle) fail(k throttleKeys, now time.Time, usedUp bool) {
	cfg := t.cfg.Load()
	ns := now.UnixNano()
	var atLeast uint32
	if usedUp {
		atLeast = uint32(cfg.NonceFailures)
	}
	t.nonces.fail(k.nonce, ns, cfg, 0, atLeast)
	t.users.fail(k.user, ns, cfg, cfg.UserFailures, 0)
	if k.client != 0 {
		t.clients.fail(k.client, ns, cfg, cfg.ClientFailures, 0)
	}
}

// backoff returns the wait after the failure number fails, for an
// allowance of free failures: none within the allowance, then Backoff,
// doubling, up to MaxBackoff.
func backoff(cfg *ThrottleConfig, fails uint32, free int) time.Duration {
	if int64(fails) <= int64(free) {
		return 0
	}
	d := cfg.Backoff
	for i := int64(fails) - int64(free) - 1; i > 0 && d < cfg.MaxBackoff; i-- {
		d *= 2
	}
	return min(d, cfg.MaxBackoff)
}

const throttleShards = 16

// failTable is a sharded table of failure counts, bounded per shard,
// with the entries of each shard in order of last failure.
type failTable struct {
	shards  [throttleShards]failShard
	tracked *atomic.Int64
}

type failShard struct {
	mu                             sync.RWMutex
	max                            int
	m                              map[uint64]*failEntry
	recency[failEntry, *failEntry]          // by last failure
	_                              [64]byte // keep shards on separate cache lines
}

type failEntry struct {
	key   uint64
	fails uint32
	last  int64 // Unix ns of the last failure
	until int64 // Unix ns until which the key is refused; 0: never
	links[failEntry]
}

func (e *failEntry) ln() *links[failEntry] { return &e.links }

func (tab *failTable) shard(key uint64) *failShard {
	return &tab.shards[key>>60%throttleShards]
}

// get returns the failures and backoff end of key, unless it is not
// tracked or forgotten (its last failure more than forget ago).
func (tab *failTable) get(key uint64, now, forget int64) (fails uint32, until int64, ok bool) {
	s := tab.shard(key)
	s.mu.RLock()
	if e := s.m[key]; e != nil {
		fails, until, ok = e.fails, e.until, now-e.last <= forget
	}
	s.mu.RUnlock()
	return fails, until, ok
}

// fail counts a failure of key at now, making its count at least atLeast,
// and sets its backoff for an allowance of free failures (0: no backoff,
// as for nonces).
func (tab *failTable) fail(key uint64, now int64, cfg *ThrottleConfig, free int, atLeast uint32) {
	s := tab.shard(key)
	forget := int64(cfg.ForgetAfter)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		for i := 0; i < 4 && s.tail != nil && now-s.tail.last > forget; i++ {
			tab.remove(s, s.tail)
		}
		for len(s.m) >= s.max && s.tail != nil {
			tab.remove(s, s.victim())
		}
		e = &failEntry{key: key}
		s.m[key] = e
		tab.tracked.Add(1)
	} else {
		if now-e.last > forget {
			e.fails, e.until = 0, 0
		}
		s.unlink(e)
	}
	if e.fails < ^uint32(0) {
		e.fails++
	}
	e.fails = max(e.fails, atLeast)
	e.last = now
	if free > 0 {
		if d := backoff(cfg, e.fails, free); d > 0 {
			e.until = now + int64(d)
		}
	}
	s.pushFront(e)
}

// evictScan is how many of a full shard's least recently failed entries
// victim looks at.
const evictScan = 16

// victim returns the entry to forget to make room in a full shard: of
// the evictScan whose last failure is the oldest, the one with the
// fewest failures (the oldest of those). Evicting the oldest alone would
// let a guesser with many addresses (an IPv6 /48 holds 65536 /64s) wipe
// a user's count, and its backoff, by failing once for each of enough
// new names, and then guess again; its own names, with one failure each,
// now go first, and a user's count goes only once the oldest entries
// around it have as many failures.
func (s *failShard) victim() *failEntry {
	v := s.tail
	for e, i := s.tail, 0; e != nil && i < evictScan; e, i = e.prev, i+1 {
		if e.fails < v.fails {
			v = e
		}
	}
	return v
}

func (tab *failTable) remove(s *failShard, e *failEntry) {
	s.unlink(e)
	delete(s.m, e.key)
	tab.tracked.Add(-1)
}

func (tab *failTable) len() int {
	n := 0
	for i := range tab.shards {
		s := &tab.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (tab *failTable) clear() {
	for i := range tab.shards {
		s := &tab.shards[i]
		s.mu.Lock()
		tab.tracked.Add(-int64(len(s.m)))
		clear(s.m)
		s.head, s.tail = nil, nil
		s.mu.Unlock()
	}
}
