package store

import (
	"context"
	"sync"
)

// LockQueue queues, by lock name, the takers of a storage's locks in one
// process, for a Store whose Lock does not wake a waiter when the lock
// is released: Caddy's file storage (certmagic) looks again a second
// later, so concurrent takers of one lock in a broker (every create of a
// consumer takes its job-count lock) each waited a second or more. A
// taker first takes the name in the queue, where it is woken at once
// when the one before releases it, then the storage's lock; takers in
// other processes sharing the storage still contend in the storage.
//
// A holder releasing a name others here wait for may hand the storage's
// lock over with it (HandOver): the next taker holds it without asking
// the storage, and the storage's lock is released by the last taker of
// the run, or, when every waiter gave up, by the queue. On Caddy's file
// storage that saves a lock file's creation, sync and removal for each
// taker of a busy lock.
//
// No library offers this: the queue sits in front of whichever storage
// module a Caddy configuration names. The zero value is ready to use.
type LockQueue struct {
	mu       sync.Mutex
	names    map[string]*queuedLock
	sessions uint64
}

type queuedLock struct {
	token chan struct{} // holds one value while a taker holds the name
	refs  int           // the holder and the waiters
	// unlock, set by HandOver until the next taker takes the name,
	// releases the storage's lock that comes with it.
	unlock func()
	// session numbers the holding of the storage's lock that handovers
	// continue (Begin, Session).
	session uint64
}

// Begin starts a new session of name, whose storage lock its holder has
// just taken from the storage, and returns its number (never 0).
func (q *LockQueue) Begin(name string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sessions++
	if l := q.names[name]; l != nil {
		l.session = q.sessions
	}
	return q.sessions
}

// Session returns the session of name that its holder continues (the
// storage's lock handed over to it); 0 when none.
func (q *LockQueue) Session(name string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.names[name]; l != nil {
		return l.session
	}
	return 0
}

// Acquire takes name in the queue, waiting until it is free or ctx ends.
// handed reports that the storage's lock comes with it (HandOver): the
// caller holds it already.
func (q *LockQueue) Acquire(ctx context.Context, name string) (handed bool, err error) {
	q.mu.Lock()
	if q.names == nil {
		q.names = map[string]*queuedLock{}
	}
	l := q.names[name]
	if l == nil {
		l = &queuedLock{token: make(chan struct{}, 1)}
		q.names[name] = l
	}
	l.refs++
	q.mu.Unlock()
	select {
	case l.token <- struct{}{}:
		q.mu.Lock()
		handed, l.unlock = l.unlock != nil, nil
		q.mu.Unlock()
		return handed, nil
	case <-ctx.Done():
		q.drop(name, l)
		return false, ctx.Err()
	}
}

// Release frees name for the next taker, the storage's lock released
// already; a name nobody here holds is left alone.
func (q *LockQueue) Release(name string) {
	q.mu.Lock()
	l := q.names[name]
	q.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case <-l.token:
		q.drop(name, l)
	default:
	}
}

// HandOver frees name with the storage's lock still held, when another
// taker here waits for it, and reports whether it did; unlock releases
// the storage's lock should every waiter give up. Without a waiter it
// does nothing: the caller releases the storage's lock, then Release.
func (q *LockQueue) HandOver(name string, unlock func()) bool {
	q.mu.Lock()
	l := q.names[name]
	if l == nil || l.refs < 2 || len(l.token) == 0 {
		q.mu.Unlock()
		return false
	}
	l.unlock = unlock
	q.mu.Unlock()
	<-l.token
	q.drop(name, l)
	return true
}

// drop removes a taker; the last one out releases a storage's lock that
// was handed over and never taken.
func (q *LockQueue) drop(name string, l *queuedLock) {
	q.mu.Lock()
	var unlock func()
	if l.refs--; l.refs == 0 {
		delete(q.names, name)
		unlock, l.unlock = l.unlock, nil
	}
	q.mu.Unlock()
	if unlock != nil {
		unlock()
	}
}

// Waiting returns how many takers of name wait in the queue.
func (q *LockQueue) Waiting(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.names[name]; l != nil {
		return l.refs - len(l.token)
	}
	return 0
}
