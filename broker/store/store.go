// Package store defines the small key-value interface the broker engine
// keeps its durable state in (catalogue snapshots, subscriptions, jobs,
// shared secrets), and an in-memory implementation for tests and for
// single-process use. In Caddy, caddymodule adapts the configured Caddy
// storage (certmagic.Storage: the file system by default, or any storage
// module a cluster uses) to this interface.
//
// This package does not import Caddy.
package store

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

// ErrNotExist is returned by Load for a key that is not stored. It is
// fs.ErrNotExist, the error certmagic storages return.
var ErrNotExist = fs.ErrNotExist

// Store is durable key-value storage with advisory locks. Keys are
// slash-separated paths. Implementations must be safe for concurrent use.
type Store interface {
	// Load returns the value of key, or an error wrapping ErrNotExist.
	Load(ctx context.Context, key string) ([]byte, error)
	// Store writes value under key, replacing any previous value.
	Store(ctx context.Context, key string, value []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys directly or indirectly under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Lock acquires the named lock, blocking until it is free or ctx ends.
	// Locks are shared by every process that shares the storage.
	Lock(ctx context.Context, name string) error
	// Unlock releases a lock acquired with Lock.
	Unlock(ctx context.Context, name string) error
}

// SessionLocker is implemented by a Store that tells whether a lock was
// held without a break since an earlier taking: in one process, a lock
// passed from taker to taker without being released in the storage
// (LockQueue.HandOver) is one session, and nobody outside the process
// could have taken it meanwhile.
type SessionLocker interface {
	// LockSession is Lock, and returns the lock's session: the number
	// the previous taker had when the lock passed from it still held,
	// a new one when it was taken from the storage.
	LockSession(ctx context.Context, name string) (uint64, error)
}

// LockKeeper is implemented by a Store whose locks can be lost while
// held: broken as stale by another process sharing the storage (on
// Caddy's file storage, once its holder has not refreshed it for 10 s:
// the process paused, or cut off from a network volume). The holder of
// a lock kept for a long time asks whether it still holds it.
type LockKeeper interface {
	// LockLost reports whether the lock name, which this process took,
	// is known to be lost: released in the storage or another's now.
	LockLost(name string) bool
}

// Counter is implemented by a Store that counts the keys under a prefix
// without listing them.
type Counter interface {
	// Count returns how many keys List(ctx, prefix) would return.
	Count(ctx context.Context, prefix string) (int, error)
}

// Count returns how many keys are under prefix: s's own count when it
// has one (Counter), else the length of its listing.
func Count(ctx context.Context, s Store, prefix string) (int, error) {
	if c, ok := s.(Counter); ok {
		return c.Count(ctx, prefix)
	}
	keys, err := s.List(ctx, prefix)
	return len(keys), err
}

// Marker is implemented by a Store that stores a key nobody reads the
// value of (an index entry, known by its name alone) more cheaply than
// Store does.
type Marker interface {
	// Mark stores key with an empty value, as durably as Store. A value
	// already under key may stay.
	Mark(ctx context.Context, key string) error
}

// Mark stores key as an index entry whose value nobody reads: s's own
// Mark when it has one (Marker), else an empty value through Store.
func Mark(ctx context.Context, s Store, key string) error {
	if m, ok := s.(Marker); ok {
		return m.Mark(ctx, key)
	}
	return s.Store(ctx, key, nil)
}

// LazyMarker is implemented by a Store that can leave an index entry's
// durability to the next write: MarkLazy makes key visible at once, and
// durable no later than the first Store that begins after MarkLazy
// returns (a crash before then may keep it or lose it). A caller that
// always stores something before it relies on the key saves a sync.
type LazyMarker interface {
	MarkLazy(ctx context.Context, key string) error
}

// MarkLazy stores key as an index entry that the next Store makes
// durable: s's own MarkLazy when it has one (LazyMarker), else Mark,
// durable at once.
func MarkLazy(ctx context.Context, s Store, key string) error {
	if m, ok := s.(LazyMarker); ok {
		return m.MarkLazy(ctx, key)
	}
	return Mark(ctx, s, key)
}

// Version tells states of a key's value apart without reading it: it
// changes whenever the value is replaced. The zero Version is unknown
// and matches nothing, not even itself (Same).
type Version [3]uint64

// Same reports whether v and o are one known version.
func (v Version) Same(o Version) bool { return v != Version{} && v == o }

// KeyVersion is a key and the version of its value.
type KeyVersion struct {
	Key     string
	Version Version
}

// Versioner is implemented by a Store that lists keys with the versions
// of their values, so that a reader can skip values it read before.
type Versioner interface {
	// ListVersions is List with each key's version (the zero Version
	// where the store cannot tell).
	ListVersions(ctx context.Context, prefix string) ([]KeyVersion, error)
}

// Memory is an in-memory Store. The zero value is ready to use.
type Memory struct {
	mu    sync.Mutex
	data  map[string][]byte
	locks map[string]chan struct{}
	// writes numbers the Stores; vers holds each key's (ListVersions).
	writes uint64
	vers   map[string]uint64
}

// Load implements Store.
func (m *Memory) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return nil, &fs.PathError{Op: "load", Path: key, Err: ErrNotExist}
	}
	return append([]byte(nil), v...), nil
}

// Store implements Store.
func (m *Memory) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = make(map[string][]byte)
		m.vers = make(map[string]uint64)
	}
	m.data[key] = append([]byte(nil), value...)
	m.writes++
	m.vers[key] = m.writes
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	delete(m.vers, key)
	return nil
}

// ListVersions implements Versioner: a key's version is the number of
// the Store that wrote its value.
func (m *Memory) ListVersions(ctx context.Context, prefix string) ([]KeyVersion, error) {
	keys, _ := m.List(ctx, prefix)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]KeyVersion, 0, len(keys))
	for _, k := range keys {
		if n, ok := m.vers[k]; ok {
			out = append(out, KeyVersion{Key: k, Version: Version{n}})
		}
	}
	return out, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// Lock implements Store.
func (m *Memory) Lock(ctx context.Context, name string) error {
	for {
		m.mu.Lock()
		if m.locks == nil {
			m.locks = make(map[string]chan struct{})
		}
		held, busy := m.locks[name]
		if !busy {
			m.locks[name] = make(chan struct{})
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Unlock implements Store.
func (m *Memory) Unlock(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.locks[name]
	if !ok {
		return errors.New("store: unlock of a lock that is not held: " + name)
	}
	delete(m.locks, name)
	close(held)
	return nil
}

var (
	_ Store     = (*Memory)(nil)
	_ Versioner = (*Memory)(nil)
)
