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
// No library offers this: the queue sits in front of whichever storage
// module a Caddy configuration names. The zero value is ready to use.
type LockQueue struct {
	mu    sync.Mutex
	names map[string]*queuedLock
}

type queuedLock struct {
	token chan struct{} // holds one value while a taker holds the name
	refs  int           // the holder and the waiters
}

// Acquire takes name in the queue, waiting until it is free or ctx ends.
func (q *LockQueue) Acquire(ctx context.Context, name string) error {
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
		return nil
	case <-ctx.Done():
		q.drop(name, l)
		return ctx.Err()
	}
}

// Release frees name for the next taker; a name nobody here holds is
// left alone.
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

func (q *LockQueue) drop(name string, l *queuedLock) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(q.names, name)
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
